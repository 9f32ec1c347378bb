"""Back-office notifications (tenants.notifications): who gets one and once, the inbox of
the logged-in user only, the tenant's channel (set by its administrator, audited), e-mail
through Django's backend and a signed webhook delivered on a real worker with retries."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.test import Client
from django.urls import reverse

from audits.models import AuditEvent
from tenants.models import Notification, Role, Tenant, User
from tenants.notifications import (
    change_notification_channel,
    notify,
    register_kind,
    sign,
    unread_count,
    webhook_secret,
)
from tenants.scoping import tenant_scope
from tenants.tasks import deliver_notification
from tests.factories import TenantFactory, UserFactory
from tests.gateway_server import Answer, GatewayServer

pytestmark = pytest.mark.django_db(databases="__all__")

KIND = "tests.something"
register_kind(KIND, lambda params: f"Something happened to {params['code']}")


@pytest.fixture(autouse=True)
def public_example_hosts(monkeypatch: Any, settings: Any) -> None:
    """``*.example`` hosts resolve to a public address (no DNS in the tests); the local
    test receiver (127.0.0.1) is allowed as in development with BAOMI_WEBHOOK_ALLOW_PRIVATE."""
    import tenants.notifications as notifications

    real = notifications._resolve
    settings.BAOMI_WEBHOOK_ALLOW_PRIVATE = True
    monkeypatch.setattr(
        notifications,
        "_resolve",
        lambda host, port: ["93.184.215.14"] if host.endswith(".example") else real(host, port),
    )


@pytest.fixture
def tenant() -> Tenant:
    return TenantFactory()


@pytest.fixture
def agent(tenant: Tenant) -> User:
    return UserFactory(
        tenant=tenant, roles=[Role.CUSTOMER_SERVICE], username="cs-wang", email="wang@staff.test"
    )


@pytest.fixture
def admin_user(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.TENANT_ADMIN], username="admin-zhao")


def _notifications(tenant: Tenant, **filters: Any) -> list[Notification]:
    with tenant_scope(tenant):
        return list(Notification.objects.filter(**filters).order_by("pk"))


def _notify(tenant: Tenant, **kwargs: Any) -> list[Notification]:
    values: dict[str, Any] = {"kind": KIND, "params": {"code": "A-1"}, "link": "/admin/"}
    values.update(kwargs)
    return notify(tenant, **values)


# --- who, and once -------------------------------------------------------------------------


def test_roles_and_users_each_once_active_users_of_the_tenant_only(
    tenant: Tenant, agent: User
) -> None:
    other_agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    inactive = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE], is_active=False)
    dispatcher = UserFactory(tenant=tenant, roles=[Role.DISPATCHER])
    elsewhere = UserFactory(tenant=TenantFactory(), roles=[Role.CUSTOMER_SERVICE])
    written = _notify(
        tenant, users=[agent, elsewhere.pk], roles=[Role.CUSTOMER_SERVICE], dedup_key=""
    )
    assert sorted(n.user_id for n in written) == sorted([agent.pk, other_agent.pk])
    assert inactive.pk not in [n.user_id for n in written]
    assert dispatcher.pk not in [n.user_id for n in written]
    assert _notifications(elsewhere.tenant) == []


def test_a_dedup_key_notifies_each_user_once(tenant: Tenant, agent: User) -> None:
    first = _notify(tenant, roles=[Role.CUSTOMER_SERVICE], dedup_key="thing:1")
    again = _notify(tenant, roles=[Role.CUSTOMER_SERVICE], dedup_key="thing:1")
    newcomer = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    later = _notify(tenant, roles=[Role.CUSTOMER_SERVICE], dedup_key="thing:1")
    assert (len(first), again, [n.user_id for n in later]) == (1, [], [newcomer.pk])
    # Without a key, every call notifies.
    assert len(_notify(tenant, users=[agent])) == 1


def test_a_rolled_back_change_notifies_nobody(tenant: Tenant, agent: User) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        _notify(tenant, users=[agent])
        raise RuntimeError("the caller's change failed")
    assert _notifications(tenant) == []


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "tests.unknown"},
        {"link": "https://elsewhere.example/"},
        {"link": "//elsewhere.example/"},
        {"link": "/\\elsewhere.example/"},
    ],
)
def test_unknown_kinds_and_outside_links_are_refused(
    tenant: Tenant, agent: User, bad: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        _notify(tenant, users=[agent], **bad)


def test_parameters_are_short_codes_never_texts(tenant: Tenant, agent: User) -> None:
    with pytest.raises(TypeError):
        _notify(tenant, users=[agent], params={"code": "x" * 65})
    with pytest.raises(TypeError):
        _notify(tenant, users=[agent], params={"code": {"name": "Li Lei"}})


# --- the inbox -----------------------------------------------------------------------------


def _inbox(client: Client) -> Any:
    return client.get(reverse("admin:tenants_notification_changelist"), HTTP_ACCEPT_LANGUAGE="en")


def test_the_inbox_shows_the_users_own_notifications_only(
    client: Client, tenant: Tenant, agent: User
) -> None:
    colleague = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    _notify(tenant, users=[agent], params={"code": "MINE-1"})
    _notify(tenant, users=[colleague], params={"code": "THEIRS-2"})
    client.force_login(agent)
    response = _inbox(client)
    html = response.content.decode()
    assert (response.status_code, "MINE-1" in html, "THEIRS-2" in html) == (200, True, False)
    assert "no-store" in response["Cache-Control"]
    assert "1 unread notification" in html


def test_another_users_or_tenants_notification_is_404(
    client: Client, tenant: Tenant, agent: User
) -> None:
    colleague = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    (theirs,) = _notify(tenant, users=[colleague])
    elsewhere = TenantFactory()
    (foreign,) = _notify(elsewhere, users=[UserFactory(tenant=elsewhere, roles=[Role.SUPERVISOR])])
    client.force_login(agent)
    codes = [
        client.post(reverse(f"admin:tenants_notification_{name}", args=[n.pk])).status_code
        for n in (theirs, foreign)
        for name in ("open", "read")
    ]
    assert codes == [404, 404, 404, 404]
    assert [n.read_at for n in _notifications(tenant)] == [None]
    assert (
        client.get(reverse("admin:tenants_notification_change", args=[theirs.pk])).status_code
        == 404
    )


def test_opening_marks_read_and_follows_the_link(
    client: Client, tenant: Tenant, agent: User
) -> None:
    (one,) = _notify(tenant, users=[agent], link="/admin/incidents/orderanomaly/")
    client.force_login(agent)
    response = client.post(reverse("admin:tenants_notification_open", args=[one.pk]))
    assert (response.status_code, response["Location"]) == (302, "/admin/incidents/orderanomaly/")
    assert _notifications(tenant)[0].read_at is not None
    assert client.get(reverse("admin:tenants_notification_open", args=[one.pk])).status_code == 405


def test_mark_read_and_mark_all_read(client: Client, tenant: Tenant, agent: User) -> None:
    one, _two = (_notify(tenant, users=[agent])[0], _notify(tenant, users=[agent])[0])
    colleague = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    _notify(tenant, users=[colleague])
    client.force_login(agent)
    client.post(reverse("admin:tenants_notification_read", args=[one.pk]))
    with tenant_scope(tenant):
        assert unread_count(agent) == 1
    client.post(reverse("admin:tenants_notification_read_all"))
    with tenant_scope(tenant):
        assert (unread_count(agent), unread_count(colleague)) == (0, 1)


def test_the_sidebar_links_the_inbox_with_the_unread_count(
    client: Client, tenant: Tenant, agent: User, django_assert_max_num_queries: Any
) -> None:
    for _ in range(3):
        _notify(tenant, users=[agent])
    client.force_login(agent)
    html = client.get(
        reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en", follow=True
    ).content.decode()
    assert reverse("admin:tenants_notification_changelist") in html
    assert "Inbox" in html
    with tenant_scope(tenant), django_assert_max_num_queries(1):
        assert unread_count(agent) == 3


# --- the tenant's channel ------------------------------------------------------------------


def test_only_the_tenant_administrator_sets_the_channel(tenant: Tenant, agent: User) -> None:
    with pytest.raises(PermissionDenied):
        change_notification_channel(
            tenant=tenant, channel="email", webhook_url="", new_secret=False, actor=agent
        )


def test_a_webhook_needs_an_https_url_without_credentials(
    tenant: Tenant, admin_user: User, settings: Any
) -> None:
    for url in ("", "ftp://hooks.example/x", "https://user:pw@hooks.example/x"):
        with pytest.raises(ValidationError):
            change_notification_channel(
                tenant=tenant,
                channel="webhook",
                webhook_url=url,
                new_secret=False,
                actor=admin_user,
            )
    settings.BAOMI_ENV = "production"
    with pytest.raises(ValidationError):
        change_notification_channel(
            tenant=tenant,
            channel="webhook",
            webhook_url="http://hooks.example/x",
            new_secret=False,
            actor=admin_user,
        )


def test_the_settings_page_sets_the_channel_audited_and_shows_the_secret_once(
    client: Client, tenant: Tenant, admin_user: User
) -> None:
    client.force_login(admin_user)
    url = reverse("admin:tenants_tenant_settings")
    response = client.post(
        url,
        {
            "notification_channel": "webhook",
            "notification_webhook_url": "https://hooks.example/baomi",
            "save_channel": "1",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    tenant.refresh_from_db()
    secret = webhook_secret(tenant)
    html = response.content.decode()
    assert (response.status_code, secret.startswith("bmw_"), secret in html) == (200, True, True)
    assert "no-store" in response["Cache-Control"]
    assert secret not in json.dumps(
        [tenant.notification_webhook_salt, tenant.notification_webhook_url]
    )
    # The page again: the secret is not shown any more.
    assert secret not in client.get(url).content.decode()
    with tenant_scope(tenant):
        (event,) = AuditEvent.objects.filter(action="tenant.notification_channel_changed")
    assert event.details == {"channel": "webhook", "url_changed": True, "secret_made": True}
    # A new secret on request; the old one stops working.
    client.post(
        url,
        {
            "notification_channel": "webhook",
            "notification_webhook_url": "https://hooks.example/baomi",
            "new_secret": "on",
            "save_channel": "1",
        },
    )
    tenant.refresh_from_db()
    assert webhook_secret(tenant) not in ("", secret)


def test_the_settings_page_refuses_others(client: Client, tenant: Tenant, agent: User) -> None:
    client.force_login(agent)
    response = client.post(
        reverse("admin:tenants_tenant_settings"),
        {"notification_channel": "email", "save_channel": "1"},
    )
    tenant.refresh_from_db()
    assert (response.status_code, tenant.notification_channel) == (403, "back_office")


# --- external delivery ---------------------------------------------------------------------


def _set_channel(tenant: Tenant, channel: str, url: str = "") -> str:
    actor = UserFactory(tenant=tenant, roles=[Role.TENANT_ADMIN])
    _changed, secret = change_notification_channel(
        tenant=tenant, channel=channel, webhook_url=url, new_secret=False, actor=actor
    )
    tenant.refresh_from_db()
    return secret


def test_email_goes_to_the_staff_members_own_address(
    tenant: Tenant, agent: User, settings: Any
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _set_channel(tenant, "email")
    no_address = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE], email="")
    written = _notify(tenant, roles=[Role.CUSTOMER_SERVICE], link="/admin/x/")
    for notification in written:
        deliver_notification.apply(args=[tenant.pk, notification.pk])
    assert [m.to for m in mail.outbox] == [["wang@staff.test"]]
    # No order code leaves the platform: a generic message and the back-office link.
    assert "A-1" not in mail.outbox[0].subject + mail.outbox[0].body
    assert "/admin/x/" in mail.outbox[0].body
    delivered = {n.user_id: n.delivered_at is not None for n in _notifications(tenant)}
    assert delivered == {agent.pk: True, no_address.pk: False}
    # A redelivered task sends nothing again.
    deliver_notification.apply(args=[tenant.pk, written[0].pk])
    assert len(mail.outbox) == 1


def test_the_back_office_channel_queues_nothing(tenant: Tenant, agent: User) -> None:
    (one,) = _notify(tenant, users=[agent])
    assert one.channel == ""


@pytest.fixture
def on_worker_queue(worker: str) -> Iterator[str]:
    """Tasks queued by the code under test (default queue) go to the test worker's queue."""
    from config.celery import app as celery_app

    before = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = worker
    try:
        yield worker
    finally:
        celery_app.conf.task_default_queue = before


def _wait(condition: Any, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_a_signed_webhook_on_a_real_worker_retried_after_a_failure(
    on_worker_queue: str, settings: Any
) -> None:
    settings.BAOMI_NOTIFICATION_RETRY_SECONDS = 0
    settings.BAOMI_BACK_OFFICE_URL = "https://baomi.example"
    tenant = TenantFactory()
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE], username="cs-hook")
    with GatewayServer() as server:
        server.answer(Answer(status=503), Answer(status=200))
        secret = _set_channel(tenant, "webhook", server.url)
        with transaction.atomic():
            (one,) = _notify(tenant, users=[agent], link="/admin/thing/7/")
        assert _wait(lambda: _notifications(tenant)[0].delivered_at is not None)
        requests = list(server.requests)
    assert len(requests) == 2
    last = requests[-1]
    headers = {k.lower(): v for k, v in last.headers.items()}
    assert headers["x-baomi-signature"] == sign(secret, headers["x-baomi-timestamp"], last.body)
    assert (
        sign("bmw_wrong", headers["x-baomi-timestamp"], last.body) != headers["x-baomi-signature"]
    )
    body = last.json()
    assert body == {
        "id": one.pk,
        "tenant": tenant.slug,
        "kind": KIND,
        "link": "https://baomi.example/admin/thing/7/",
        "created_at": one.created_at.isoformat(),
    }
    assert _notifications(tenant)[0].attempts == 2


def test_a_failing_webhook_is_retried_then_given_up_and_logged(
    tenant: Tenant, agent: User, settings: Any, caplog: Any
) -> None:
    settings.BAOMI_NOTIFICATION_RETRY_SECONDS = 0
    settings.BAOMI_NOTIFICATION_RETRIES = 2
    with GatewayServer() as server:
        server.answer(Answer(status=500), Answer(status=502), Answer(status=404))
        _set_channel(tenant, "webhook", server.url)
        (one,) = _notify(tenant, users=[agent])
        deliver_notification.apply(args=[tenant.pk, one.pk])  # retries run eagerly here
        sent = len(server.requests)
    (stored,) = _notifications(tenant)
    assert (sent, stored.attempts, stored.delivered_at) == (3, 3, None)
    assert "gave up after 3 attempts" in caplog.text
    assert "HTTP 404" in caplog.text and "cs-wang" not in caplog.text
