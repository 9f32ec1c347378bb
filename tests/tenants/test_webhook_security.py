"""The webhook channel's security review (issue 18): no request to inside addresses (at save
time and again at send time, connecting to the address checked), valid hosts and ports,
any transport failure retried and never a crash, one delivery run at a time, nothing but
ids, the kind and the link in what leaves, the saved URL shown masked, and production
refusing development mail settings."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

import tenants.notifications as notifications
from tenants.models import Notification, Role, Tenant, User
from tenants.notifications import (
    DeliveryFailed,
    address_allowed,
    change_notification_channel,
    clean_webhook_url,
    deliver,
    masked_webhook_url,
    notify,
    register_kind,
)
from tenants.scoping import tenant_scope
from tenants.tasks import deliver_notification
from tests.factories import TenantFactory, UserFactory
from tests.gateway_server import Answer, GatewayServer
from tests.test_settings import manage, production_env

pytestmark = pytest.mark.django_db(databases="__all__")

KIND = "tests.webhook_security"
register_kind(KIND, lambda params: f"Order {params['code']} needs you")

PUBLIC = "93.184.215.14"
DNS: dict[str, list[str]] = {}


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: Any, settings: Any) -> dict[str, list[str]]:
    """Host names resolve from ``DNS`` (default: one public address); no real lookups."""
    DNS.clear()
    settings.BAOMI_WEBHOOK_ALLOW_PRIVATE = False
    settings.BAOMI_ENV = "test"

    def resolve(host: str, port: int) -> list[str]:
        if host[:1].isdigit():  # an IP literal (the local test receiver) is itself
            return [host]
        return list(DNS.get(host, [PUBLIC]))

    monkeypatch.setattr(notifications, "_resolve", resolve)
    return DNS


@pytest.fixture
def tenant() -> Tenant:
    return TenantFactory()


@pytest.fixture
def admin_user(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.TENANT_ADMIN], username="admin-zhao")


@pytest.fixture
def agent(tenant: Tenant) -> User:
    return UserFactory(
        tenant=tenant, roles=[Role.CUSTOMER_SERVICE], username="cs-wang", email="wang@staff.test"
    )


def _stored(tenant: Tenant) -> list[Notification]:
    with tenant_scope(tenant):
        return list(Notification.objects.order_by("pk"))


def _use_webhook(tenant: Tenant, admin_user: User, url: str) -> None:
    change_notification_channel(
        tenant=tenant, channel="webhook", webhook_url=url, new_secret=False, actor=admin_user
    )
    tenant.refresh_from_db()


# --- 1. SSRF: save time ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 - an address refused, not bound
        "224.0.0.1",
        "::1",
        "fd00::1",
        "fe80::1",
        "::",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "240.0.0.1",
    ],
)
def test_hosts_resolving_inside_are_refused(address: str, settings: Any) -> None:
    DNS["inside.example"] = [address]
    assert address_allowed(ipaddress.ip_address(address)) is False
    with pytest.raises(ValidationError):
        clean_webhook_url("https://inside.example/hook")
    # Not even in development with private addresses allowed: link-local, multicast, ...
    settings.BAOMI_WEBHOOK_ALLOW_PRIVATE = True
    expected = address in {
        *("127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "::1", "fd00::1"),
        "::ffff:127.0.0.1",
    }
    assert address_allowed(ipaddress.ip_address(address)) is expected


def test_a_host_with_one_inside_address_among_public_ones_is_refused() -> None:
    DNS["mixed.example"] = [PUBLIC, "10.0.0.5"]
    with pytest.raises(ValidationError):
        clean_webhook_url("https://mixed.example/hook")


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.215.14/hook",
        "https://127.0.0.1/hook",
        "https://0x7f000001/hook",
        "https://2130706433/hook",
        "https://127.1/hook",
        "https://0177.0.0.1/hook",
        "https://[::1]/hook",
        "https://[::ffff:7f00:1]/hook",
    ],
)
def test_ip_literals_in_any_spelling_are_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        clean_webhook_url(url)


def test_a_host_that_does_not_resolve_is_refused(monkeypatch: Any) -> None:
    def unresolvable(host: str, port: int) -> list[str]:
        raise socket.gaierror("no such host")

    monkeypatch.setattr(notifications, "_resolve", unresolvable)
    with pytest.raises(ValidationError):
        clean_webhook_url("https://nowhere.example/hook")


def test_production_allows_only_the_listed_ports(settings: Any) -> None:
    settings.BAOMI_ENV = "production"
    settings.BAOMI_WEBHOOK_PORTS = [443]
    assert clean_webhook_url("https://hooks.example/x") == "https://hooks.example/x"
    assert clean_webhook_url("https://hooks.example:443/x") == "https://hooks.example:443/x"
    for url in ("https://hooks.example:8443/x", "https://hooks.example:22/x"):
        with pytest.raises(ValidationError):
            clean_webhook_url(url)
    settings.BAOMI_WEBHOOK_PORTS = [443, 8443]
    assert clean_webhook_url("https://hooks.example:8443/x")


# --- 2. bad ports and hosts at save time ---------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://a:abc/",
        "https://a:99999/",
        "https://a:0/",
        "https://" + "a" * 64 + ".example/x",
        "https://a..example/x",
    ],
)
def test_bad_ports_and_host_names_are_refused_when_saved(url: str) -> None:
    with pytest.raises(ValidationError):
        clean_webhook_url(url)


def test_an_international_host_name_is_accepted() -> None:
    assert clean_webhook_url("https://钩子.example/x") == "https://钩子.example/x"


# --- 1. SSRF: send time ----------------------------------------------------------------------


def test_send_time_resolves_again_and_refuses_an_inside_address(
    tenant: Tenant, admin_user: User, agent: User, settings: Any, caplog: Any
) -> None:
    """DNS rebinding: public when saved, inside when sent; nothing is sent, the task retries
    then gives up, and the log holds the class of the failure and ids only."""
    settings.BAOMI_NOTIFICATION_RETRY_SECONDS = 0
    settings.BAOMI_NOTIFICATION_RETRIES = 1
    _use_webhook(tenant, admin_user, "https://rebind.example/hook")
    DNS["rebind.example"] = ["169.254.169.254"]
    opened: list[Any] = []
    original = socket.create_connection
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "create_connection", lambda *a, **k: opened.append(a))
        (one,) = notify(tenant, users=[agent], kind=KIND, params={"code": "A-1"})
        deliver_notification.apply(args=[tenant.pk, one.pk])
    assert socket.create_connection is original
    (stored,) = _stored(tenant)
    assert (opened, stored.delivered_at, stored.attempts, stored.sending_since) == (
        [],
        None,
        2,
        None,
    )
    assert "webhook host refused (ValueError)" in caplog.text
    assert "gave up after 2 attempts" in caplog.text
    assert "rebind.example" not in caplog.text


def test_the_connection_goes_to_the_checked_address_with_the_host_name(
    tenant: Tenant, admin_user: User, agent: User, settings: Any
) -> None:
    """No second lookup: the name resolves (once) to the receiver's address, the socket goes
    there, and the request names the host."""
    settings.BAOMI_WEBHOOK_ALLOW_PRIVATE = True
    lookups: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    with GatewayServer() as server, pytest.MonkeyPatch.context() as patch:
        port = int(server.url.rsplit(":", 1)[1].split("/")[0])
        patch.setattr(notifications, "_resolve", resolve)
        _use_webhook(tenant, admin_user, f"http://pinned.example:{port}/hook?token=s3cret")
        lookups.clear()
        (one,) = notify(tenant, users=[agent], kind=KIND, params={"code": "A-1"})
        real_getaddrinfo = socket.getaddrinfo

        def getaddrinfo(host: str, *args: Any, **kwargs: Any) -> Any:
            assert host == "127.0.0.1", "a second lookup of the host name"
            return real_getaddrinfo(host, *args, **kwargs)

        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        with tenant_scope(tenant):
            assert deliver(tenant, one.pk) is True
        (request,) = server.requests
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert (lookups, headers["host"], request.path) == (
        ["pinned.example"],
        f"pinned.example:{port}",
        "/hook?token=s3cret",
    )


def test_https_wraps_the_checked_socket_verifying_the_host_name(monkeypatch: Any) -> None:
    seen: dict[str, Any] = {}
    raw = object()
    monkeypatch.setattr(
        socket,
        "create_connection",
        lambda address, timeout=None: seen.setdefault("address", address) and raw,
    )
    connection = notifications._PinnedHTTPSConnection(
        "hooks.example", 443, address=ipaddress.ip_address(PUBLIC), timeout=5
    )
    context = connection._context  # type: ignore[attr-defined]
    monkeypatch.setattr(
        type(context),
        "wrap_socket",
        lambda self, sock, server_hostname=None: seen.update(sock=sock, name=server_hostname),
    )
    connection.connect()
    assert (seen["address"], seen["sock"] is raw, seen["name"]) == (
        (PUBLIC, 443),
        True,
        "hooks.example",
    )
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)


def test_redirects_are_not_followed(tenant: Tenant, admin_user: User, agent: User) -> None:
    from django.conf import settings

    settings.BAOMI_WEBHOOK_ALLOW_PRIVATE = True
    with GatewayServer() as server:
        server.answer(Answer(status=302))
        _use_webhook(tenant, admin_user, server.url)
        (one,) = notify(tenant, users=[agent], kind=KIND, params={"code": "A-1"})
        with tenant_scope(tenant), pytest.raises(DeliveryFailed, match="HTTP 302"):
            deliver(tenant, one.pk)
        assert len(server.requests) == 1


# --- 2. any transport failure is retried; one run at a time ---------------------------------


@pytest.mark.parametrize("failure", [ValueError("bad"), UnicodeError("idna"), RuntimeError()])
def test_any_webhook_transport_error_is_retried_not_a_crash(
    failure: Exception,
    tenant: Tenant,
    admin_user: User,
    agent: User,
    settings: Any,
    caplog: Any,
    monkeypatch: Any,
) -> None:
    settings.BAOMI_NOTIFICATION_RETRY_SECONDS = 0
    settings.BAOMI_NOTIFICATION_RETRIES = 1
    _use_webhook(tenant, admin_user, "https://hooks.example/hook")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise failure

    monkeypatch.setattr(notifications._PinnedHTTPSConnection, "request", broken)
    (one,) = notify(tenant, users=[agent], kind=KIND, params={"code": "A-1"})
    assert deliver_notification.apply(args=[tenant.pk, one.pk]).get() is False
    assert f"({type(failure).__name__})" in caplog.text
    assert "gave up after 2 attempts" in caplog.text


def test_an_email_header_error_is_retried_not_a_crash(
    tenant: Tenant, admin_user: User, agent: User, settings: Any, caplog: Any, monkeypatch: Any
) -> None:
    from django.core.mail import BadHeaderError

    settings.BAOMI_NOTIFICATION_RETRY_SECONDS = 0
    settings.BAOMI_NOTIFICATION_RETRIES = 0
    change_notification_channel(
        tenant=tenant, channel="email", webhook_url="", new_secret=False, actor=admin_user
    )
    tenant.refresh_from_db()

    def broken(**kwargs: Any) -> None:
        raise BadHeaderError("newline")

    monkeypatch.setattr(notifications, "send_mail", broken)
    (one,) = notify(tenant, users=[agent], kind=KIND, params={"code": "A-1"})
    assert deliver_notification.apply(args=[tenant.pk, one.pk]).get() is False
    assert "e-mail failed (BadHeaderError)" in caplog.text
    assert "wang@staff.test" not in caplog.text


def test_a_notification_being_sent_is_not_sent_again_by_a_redelivered_task(
    tenant: Tenant, admin_user: User, agent: User, settings: Any
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    change_notification_channel(
        tenant=tenant, channel="email", webhook_url="", new_secret=False, actor=admin_user
    )
    tenant.refresh_from_db()
    (one,) = notify(tenant, users=[agent], kind=KIND, params={"code": "A-1"})
    with tenant_scope(tenant):
        # Another run claimed it a moment ago and is sending.
        Notification.objects.filter(pk=one.pk).update(sending_since=timezone.now())
        assert deliver(tenant, one.pk) is False
        assert len(mail.outbox) == 0
        # A claim older than the lease (its worker died): sent again, at least once.
        stale = timezone.now() - timezone.timedelta(seconds=notifications.SENDING_LEASE + 1)
        Notification.objects.filter(pk=one.pk).update(sending_since=stale)
        assert deliver(tenant, one.pk) is True
        assert deliver(tenant, one.pk) is False
    (stored,) = _stored(tenant)
    assert (len(mail.outbox), stored.sending_since, stored.delivered_at is not None) == (
        1,
        None,
        True,
    )


# --- 3. what leaves the platform -------------------------------------------------------------


def test_the_webhook_body_holds_no_order_code_and_no_user_name(
    tenant: Tenant, admin_user: User, agent: User, settings: Any
) -> None:
    settings.BAOMI_WEBHOOK_ALLOW_PRIVATE = True
    settings.BAOMI_BACK_OFFICE_URL = "https://baomi.example"
    with GatewayServer() as server:
        _use_webhook(tenant, admin_user, server.url)
        (one,) = notify(
            tenant, users=[agent], kind=KIND, params={"code": "SECRET-ORDER-9"}, link="/admin/o/"
        )
        with tenant_scope(tenant):
            deliver(tenant, one.pk)
        (request,) = server.requests
    body = request.body.decode()
    assert ("SECRET-ORDER-9" in body, "cs-wang" in body) == (False, False)
    assert sorted(request.json()) == ["created_at", "id", "kind", "link", "tenant"]


# --- 5. the saved URL is write-only ----------------------------------------------------------


def test_the_settings_page_shows_the_saved_url_masked_and_keeps_it_when_left_empty(
    client: Client, tenant: Tenant, admin_user: User
) -> None:
    url = "https://hooks.example/services/T000/B000/tokenXYZ?key=abc"
    _use_webhook(tenant, admin_user, url)
    client.force_login(admin_user)
    page = reverse("admin:tenants_tenant_settings")
    html = client.get(page, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert ("tokenXYZ" in html, "key=abc" in html, "https://hooks.example/…" in html) == (
        False,
        False,
        True,
    )
    response = client.post(
        page,
        {"notification_channel": "webhook", "notification_webhook_url": "", "save_channel": "1"},
    )
    tenant.refresh_from_db()
    assert (response.status_code, tenant.notification_webhook_url) == (302, url)
    assert masked_webhook_url(url) == "https://hooks.example/…"


# --- 4. production refuses development mail settings ------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"BAOMI_BACK_OFFICE_URL": None}, "BAOMI_BACK_OFFICE_URL must be the back office's"),
        ({"BAOMI_BACK_OFFICE_URL": "http://baomi.example.com"}, "BAOMI_BACK_OFFICE_URL must"),
        ({"BAOMI_BACK_OFFICE_URL": "https://localhost"}, "BAOMI_BACK_OFFICE_URL must"),
        ({"DEFAULT_FROM_EMAIL": None}, "DEFAULT_FROM_EMAIL must be set"),
        ({"DEFAULT_FROM_EMAIL": "baomi@localhost"}, "DEFAULT_FROM_EMAIL must be set"),
        ({"EMAIL_HOST": None}, "EMAIL_HOST is not set"),
        ({"BAOMI_WEBHOOK_ALLOW_PRIVATE": "true"}, "BAOMI_WEBHOOK_ALLOW_PRIVATE is for local"),
    ],
)
def test_production_refuses_development_notification_settings(
    tmp_path: Any, overrides: dict[str, str | None], message: str
) -> None:
    result = manage(production_env(tmp_path, **overrides), "check")
    assert (result.returncode != 0, message in result.stderr) == (True, True), result.stderr
