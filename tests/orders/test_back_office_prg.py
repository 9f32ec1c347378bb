"""Post/redirect/get in the orders' back office: a reload never takes an order twice, the
delivery PIN is shown once after the redirect and stored nowhere on the server, and a
reveal's result is not re-revealed by a reload (docs/decisions/0009)."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from audits.models import AuditEvent
from core.one_time import ONE_TIME_SECONDS, cookie_name
from orders.admin import INTAKE_PIN
from orders.models import Order
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, PrivacyNoticeFactory, UserFactory
from tests.orders.test_admin_intake import FORM
from tests.rawdb import all_stored_values

pytestmark = pytest.mark.django_db(databases="__all__")
PIN_COOKIE = cookie_name(INTAKE_PIN)


@pytest.fixture
def agent_client(client: Client) -> Client:
    notice = PrivacyNoticeFactory()
    client.agent = UserFactory(tenant=notice.tenant, roles=[Role.CUSTOMER_SERVICE])  # type: ignore[attr-defined]
    client.force_login(client.agent)  # type: ignore[attr-defined]
    client.tenant = notice.tenant  # type: ignore[attr-defined]
    return client


def _orders(tenant: Any) -> list[Order]:
    with tenant_scope(tenant):
        return list(Order.objects.all())


def _pin(html: str) -> str | None:
    found = re.search(r'id="delivery-pin">(\d{6})<', html)
    return found.group(1) if found else None


def test_intake_redirects_and_the_pin_is_shown_once(agent_client: Client) -> None:
    response = agent_client.post(reverse("admin:orders_order_add"), FORM)
    (order,) = _orders(agent_client.tenant)
    taken = reverse("admin:orders_order_taken", args=[order.pk])
    cookie = response.cookies[PIN_COOKIE]
    first = agent_client.get(taken, HTTP_ACCEPT_LANGUAGE="en")
    again = agent_client.get(taken, HTTP_ACCEPT_LANGUAGE="en")
    assert (response.status_code, response["Location"]) == (302, taken)
    assert (
        cookie["path"],
        cookie["max-age"],
        cookie["httponly"],
        cookie["samesite"],
    ) == (taken, ONE_TIME_SECONDS, True, "Strict")
    assert (
        _pin(first.content.decode()) is not None,
        "no-store" in first["Cache-Control"],
        first.cookies[PIN_COOKIE].value,  # deleted
    ) == (True, True, "")
    assert (_pin(again.content.decode()), order.code in again.content.decode()) == (None, True)
    assert "The PIN was shown once. If the customer did not note it, open the order" in (
        again.content.decode()
    )
    assert len(_orders(agent_client.tenant)) == 1


def test_the_pin_shown_is_the_orders_pin(agent_client: Client) -> None:
    from orders.intake import pin_matches

    agent_client.post(reverse("admin:orders_order_add"), FORM, follow=True)
    (order,) = _orders(agent_client.tenant)
    # The follow above consumed the cookie; take a second order and read its page.
    response = agent_client.post(reverse("admin:orders_order_add"), FORM, follow=True)
    (newest,) = [o for o in _orders(agent_client.tenant) if o.pk != order.pk]
    assert pin_matches(newest, _pin(response.content.decode())) is True


def test_reloading_the_taken_page_never_takes_the_order_again(agent_client: Client) -> None:
    response = agent_client.post(reverse("admin:orders_order_add"), FORM, follow=True)
    for _reload in range(3):
        agent_client.get(response.redirect_chain[-1][0])
    with tenant_scope(agent_client.tenant):
        created = AuditEvent.objects.filter(action="order.created").count()
    assert (len(_orders(agent_client.tenant)), created) == (1, 1)


def test_the_pin_is_stored_in_no_table_and_no_log_line(agent_client: Client, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    response = agent_client.post(reverse("admin:orders_order_add"), FORM, follow=True)
    pin = _pin(response.content.decode())
    assert pin is not None
    texts = [
        v if isinstance(v, str) else bytes(v).decode("latin-1")
        for alias in ("default", "keystore")
        for v in all_stored_values(alias)
        if isinstance(v, str | bytes | memoryview)
    ]
    # The session's data is encoded: read it decoded too.
    sessions = [str(s.get_decoded()) for s in Session.objects.all()]
    assert (
        [t for t in texts if pin in t],
        [s for s in sessions if pin in s],
        len(sessions) >= 1,
        pin in caplog.text,
    ) == ([], [], True, False)


def test_the_cookie_is_the_pin_encrypted_not_the_pin(agent_client: Client) -> None:
    response = agent_client.post(reverse("admin:orders_order_add"), FORM)
    token = response.cookies[PIN_COOKIE].value
    pin = _pin(agent_client.get(response["Location"]).content.decode())
    assert (pin is not None and len(pin) == 6, pin in token) == (True, False)


def test_another_user_or_order_cannot_open_the_pin_cookie(agent_client: Client) -> None:
    response = agent_client.post(reverse("admin:orders_order_add"), FORM)
    token = response.cookies[PIN_COOKIE].value
    (order,) = _orders(agent_client.tenant)
    other_order = OrderFactory(tenant=agent_client.tenant)
    colleague = UserFactory(tenant=agent_client.tenant, roles=[Role.CUSTOMER_SERVICE])
    # The same cookie sent to another order's page, or by a colleague, shows no PIN.
    agent_client.cookies[PIN_COOKIE] = token
    wrong_order = agent_client.get(reverse("admin:orders_order_taken", args=[other_order.pk]))
    colleague_client = Client()
    colleague_client.force_login(colleague)
    colleague_client.cookies[PIN_COOKIE] = token
    wrong_user = colleague_client.get(reverse("admin:orders_order_taken", args=[order.pk]))
    assert (_pin(wrong_order.content.decode()), _pin(wrong_user.content.decode())) == (None, None)


@pytest.mark.parametrize("token", ["", "x", "!!!", "A" * 600, "AAAAAAAAAAAAAAAAAAAAAAAAAAAA"])
def test_a_forged_or_malformed_cookie_shows_no_pin_and_no_error(
    agent_client: Client, token: str
) -> None:
    order = OrderFactory(tenant=agent_client.tenant)
    agent_client.cookies[PIN_COOKIE] = token
    response = agent_client.get(reverse("admin:orders_order_taken", args=[order.pk]))
    assert (response.status_code, _pin(response.content.decode())) == (200, None)


def test_another_tenants_taken_page_is_404(agent_client: Client) -> None:
    other = OrderFactory()
    response = agent_client.get(reverse("admin:orders_order_taken", args=[other.pk]))
    assert response.status_code == 404


# Reveal: answered in the POST (values cannot survive a redirect without storing them), but
# with a one-time form nonce so that a reload does not reveal again.


def _reveal(client: Client, order: Order, nonce: str) -> Any:
    return client.post(
        reverse("admin:orders_order_reveal", args=[order.pk]),
        {"reveal_fields": ["phone"], "purpose": "customer_service_call", "reveal_nonce": nonce},
        HTTP_ACCEPT_LANGUAGE="en",
    )


def _reveals(order: Order) -> int:
    with tenant_scope(order.tenant):
        return AuditEvent.objects.filter(action="privacy.reveal").count()


def test_a_replayed_reveal_post_redirects_without_revealing(agent_client: Client) -> None:
    order = OrderFactory(tenant=agent_client.tenant)
    change = reverse("admin:orders_order_change", args=[order.pk])
    nonce = agent_client.get(change).context["reveal_nonce"]
    first = _reveal(agent_client, order, nonce)
    replay = _reveal(agent_client, order, nonce)
    followed = agent_client.get(replay["Location"], HTTP_ACCEPT_LANGUAGE="en")
    assert (
        first.status_code,
        "13912345678" in first.content.decode(),
        "no-store" in first["Cache-Control"],
        "Reloading this page does not reveal again" in first.content.decode(),
    ) == (200, True, True, True)
    assert (replay.status_code, replay["Location"], _reveals(order)) == (302, change, 1)
    assert "This reveal was already shown; reveal again if you need it." in (
        followed.content.decode()
    )
    assert "13912345678" not in followed.content.decode()


@pytest.mark.parametrize("nonce", ["", "made-up", "x" * 500])
def test_a_reveal_without_a_valid_nonce_reveals_nothing(agent_client: Client, nonce: str) -> None:
    order = OrderFactory(tenant=agent_client.tenant)
    agent_client.get(reverse("admin:orders_order_change", args=[order.pk]))
    response = _reveal(agent_client, order, nonce)
    assert (response.status_code, _reveals(order)) == (302, 0)


def test_a_nonce_of_another_order_does_not_reveal_this_one(agent_client: Client) -> None:
    first, second = (OrderFactory(tenant=agent_client.tenant) for _ in range(2))
    nonce = agent_client.get(reverse("admin:orders_order_change", args=[first.pk])).context[
        "reveal_nonce"
    ]
    response = _reveal(agent_client, second, nonce)
    assert (response.status_code, _reveals(second)) == (302, 0)


def test_two_open_order_pages_each_reveal_once(agent_client: Client) -> None:
    order = OrderFactory(tenant=agent_client.tenant)
    change = reverse("admin:orders_order_change", args=[order.pk])
    tab_one = agent_client.get(change).context["reveal_nonce"]
    tab_two = agent_client.get(change).context["reveal_nonce"]
    codes = [_reveal(agent_client, order, n).status_code for n in (tab_one, tab_two, tab_one)]
    assert (codes, _reveals(order)) == ([200, 200, 302], 2)


def test_the_session_keeps_only_hashes_of_reveal_nonces(agent_client: Client) -> None:
    order = OrderFactory(tenant=agent_client.tenant)
    nonce = agent_client.get(reverse("admin:orders_order_change", args=[order.pk])).context[
        "reveal_nonce"
    ]
    session = agent_client.session.get("baomi_reveal_nonces")
    assert (len(session), nonce in str(session)) == (1, False)


def test_the_order_page_reads_statuses_by_label_people_by_name_and_times_locally(
    agent_client: Client,
) -> None:
    from orders.lifecycle import transition_order

    cook = UserFactory(tenant=agent_client.tenant, roles=[Role.KITCHEN])
    agent_client.post(reverse("admin:orders_order_add"), FORM)
    (order,) = _orders(agent_client.tenant)
    transition_order(order=order, to="preparing", actor=cook)
    page = agent_client.get(
        reverse("admin:orders_order_change", args=[order.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    agent = agent_client.agent  # type: ignore[attr-defined]
    assert f"— → Received · {agent.username}" in page
    assert f"Received → Preparing · {cook.username}" in page
    assert "Privacy notice shown" in page
    assert "user:" not in page
