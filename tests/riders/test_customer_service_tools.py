"""Customer service's tools on the order page: a handover code shown once after the
redirect, and a new delivery PIN by SMS."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from audits.models import AuditEvent
from config.gateways import GatewayError
from orders.intake import pin_matches
from orders.lifecycle import do_check_delivery_pin
from orders.models import Status
from privacy.sms import MemorySmsBackend, sms_backend
from riders.delivery import confirm_pickup
from riders.models import HandoverCode
from tenants.models import Role, User
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, TenantFactory, UserFactory
from tests.riders.conftest import Delivery, refreshed

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def agent(delivery: Delivery) -> User:
    return UserFactory(tenant=delivery.tenant, roles=[Role.CUSTOMER_SERVICE])


@pytest.fixture
def agent_client(client: Client, agent: User) -> Client:
    client.force_login(agent)
    return client


@pytest.fixture
def outbox(settings: Any) -> Iterator[list[tuple[str, str]]]:
    settings.BAOMI_SMS_BACKEND = "privacy.sms.MemorySmsBackend"
    sms_backend.cache_clear()
    MemorySmsBackend.outbox.clear()
    yield MemorySmsBackend.outbox
    MemorySmsBackend.outbox.clear()
    sms_backend.cache_clear()


class FailingSmsBackend(MemorySmsBackend):
    def send(self, *, phone: str, text: str) -> None:
        raise GatewayError("sms gateway answered 503")


@pytest.fixture
def failing_sms(settings: Any) -> Iterator[None]:
    settings.BAOMI_SMS_BACKEND = f"{__name__}.FailingSmsBackend"
    sms_backend.cache_clear()
    yield
    sms_backend.cache_clear()


def _picked_up(delivery: Delivery) -> None:
    confirm_pickup(
        order=delivery.order,
        user=delivery.rider.user,
        code=delivery.order.code,
        seal_number="SEAL-4242",
    )


def _page(client: Client, delivery: Delivery) -> str:
    url = reverse("admin:orders_order_change", args=[delivery.order.pk])
    return client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()


def _issue(client: Client, delivery: Delivery, reason: str = "verified on a relay call") -> Any:
    url = reverse("admin:orders_order_handover_code", args=[delivery.order.pk])
    return client.post(url, {"reason": reason}, HTTP_ACCEPT_LANGUAGE="en")


def _events(delivery: Delivery, action: str) -> list[AuditEvent]:
    with tenant_scope(delivery.tenant):
        return list(AuditEvent.objects.filter(action=action))


# Handover codes.


def test_the_handover_code_is_shown_once_after_the_redirect(
    agent_client: Client, delivery: Delivery
) -> None:
    _picked_up(delivery)
    posted = _issue(agent_client, delivery)
    first = _page(agent_client, delivery)
    code = re.search(r'id="handover-code">(\d{8})<', first).group(1)
    again = _page(agent_client, delivery)
    with tenant_scope(delivery.tenant):
        (record,) = HandoverCode.objects.filter(order=delivery.order)
    assert (
        posted.status_code,
        posted.url,
        code in posted.url,
        code in posted.cookies["baomi_once_handover_code"].value,
        "Handover code issued" in first,
        'id="handover-code"' in again,
        code in record.code_hash,
        record.reason,
        len(_events(delivery, "riders.handover_code_issued")),
    ) == (
        302,
        reverse("admin:orders_order_change", args=[delivery.order.pk]),
        False,
        False,
        True,
        False,
        False,
        "verified on a relay call",
        1,
    )


def test_the_shown_code_hands_the_order_over(
    agent_client: Client, delivery: Delivery, client: Client
) -> None:
    _picked_up(delivery)
    _issue(agent_client, delivery)
    code = re.search(r'id="handover-code">(\d{8})<', _page(agent_client, delivery)).group(1)
    rider = Client()
    rider.force_login(delivery.rider.user)
    rider.post(reverse("riders:handover", args=[delivery.order.pk]), {"handover_code": code})
    assert refreshed(delivery.order).status == Status.DELIVERED


def test_another_user_does_not_see_the_code(
    agent_client: Client, delivery: Delivery, agent: User
) -> None:
    _picked_up(delivery)
    posted = _issue(agent_client, delivery)
    other = Client()
    other.force_login(UserFactory(tenant=delivery.tenant, roles=[Role.CUSTOMER_SERVICE]))
    other.cookies["baomi_once_handover_code"] = posted.cookies["baomi_once_handover_code"].value
    assert 'id="handover-code"' not in _page(other, delivery)


def test_an_empty_reason_is_a_message_and_issues_nothing(
    agent_client: Client, delivery: Delivery
) -> None:
    _picked_up(delivery)
    response = _issue(agent_client, delivery, reason="  ")
    page = _page(agent_client, delivery)
    with tenant_scope(delivery.tenant):
        issued = HandoverCode.objects.filter(order=delivery.order).count()
    control = _issue(agent_client, delivery, reason="ok\x00")
    assert "baomi_once_handover_code" not in control.cookies
    assert (response.status_code, "baomi_once_handover_code" in response.cookies, issued) == (
        302,
        False,
        0,
    )
    assert ('id="handover-code"' not in page, "This field is required." in page) == (True, True)


def test_an_order_not_on_its_way_is_a_message(agent_client: Client, delivery: Delivery) -> None:
    response = _issue(agent_client, delivery)
    followed = agent_client.get(response.url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert (response.status_code, "Handover codes are for orders on their way." in followed) == (
        302,
        True,
    )


def test_only_customer_service_issues_codes(client: Client, delivery: Delivery) -> None:
    _picked_up(delivery)
    client.force_login(delivery.dispatcher)
    response = _issue(client, delivery)
    followed = client.get(response.url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    with tenant_scope(delivery.tenant):
        issued = HandoverCode.objects.filter(order=delivery.order).count()
    assert (
        response.status_code,
        "Only customer service issues handover codes." in followed,
        issued,
    ) == (302, True, 0)


def test_the_panel_shows_for_customer_service_on_orders_on_their_way(
    agent_client: Client, delivery: Delivery
) -> None:
    before = _page(agent_client, delivery)
    _picked_up(delivery)
    after = _page(agent_client, delivery)
    assert ('id="handover-form"' in before, 'id="handover-form"' in after) == (False, True)


def test_a_get_issues_nothing(agent_client: Client, delivery: Delivery) -> None:
    _picked_up(delivery)
    agent_client.get(reverse("admin:orders_order_handover_code", args=[delivery.order.pk]))
    with tenant_scope(delivery.tenant):
        assert HandoverCode.objects.filter(order=delivery.order).count() == 0


def test_another_tenants_order_is_a_404(client: Client, delivery: Delivery) -> None:
    client.force_login(UserFactory(tenant=TenantFactory(), roles=[Role.CUSTOMER_SERVICE]))
    assert _issue(client, delivery).status_code == 404


# A new delivery PIN by SMS.


def _resend(client: Client, delivery: Delivery) -> Any:
    url = reverse("admin:orders_order_resend_pin", args=[delivery.order.pk])
    return client.post(url, HTTP_ACCEPT_LANGUAGE="en", follow=True)


def test_a_new_pin_replaces_the_old_one_and_reaches_the_customer(
    agent_client: Client, delivery: Delivery, outbox: list[tuple[str, str]], caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    old = delivery.order.delivery_pin
    _picked_up(delivery)
    for _attempt in range(2):
        do_check_delivery_pin(order=delivery.order, pin="000000", actor=delivery.rider.user)
    page = _resend(agent_client, delivery).content.decode()
    ((phone, text),) = outbox
    new = re.search(r"\b(\d{6})\b", text).group(1)
    order = refreshed(delivery.order)
    (event,) = _events(delivery, "order.pin_resent")
    (revealed,) = [
        e for e in _events(delivery, "privacy.reveal") if e.purpose == "delivery_pin_sms"
    ]
    assert (
        phone,
        "A new PIN was sent to the customer." in page,
        pin_matches(order, old),
        pin_matches(order, new),
        order.pin_attempts,
        event.details,
        revealed.actor,
        new in caplog.text,
        new in order.pin_hash,
        new in page,
    ) == (
        "13912345678",
        True,
        old == new,
        True,
        0,
        {"previous_attempts": 2, "unlocked": False},
        "system:delivery-pin-sms",
        False,
        False,
        False,
    )


def test_a_new_pin_lifts_a_pin_lock(
    agent_client: Client, delivery: Delivery, outbox: list[tuple[str, str]]
) -> None:
    _picked_up(delivery)
    for _attempt in range(5):
        do_check_delivery_pin(order=delivery.order, pin="000000", actor=delivery.rider.user)
    _resend(agent_client, delivery)
    new = re.search(r"\b(\d{6})\b", outbox[0][1]).group(1)
    check = do_check_delivery_pin(order=delivery.order, pin=new, actor=delivery.rider.user)
    assert (check.accepted, _events(delivery, "order.pin_resent")[0].details["unlocked"]) == (
        True,
        True,
    )


def test_a_failed_sms_is_a_message_and_keeps_the_old_pin(
    agent_client: Client, delivery: Delivery, failing_sms: None
) -> None:
    before = refreshed(delivery.order).pin_hash
    page = _resend(agent_client, delivery).content.decode()
    assert (
        "The SMS could not be sent; the PIN was not changed. Try again later." in page,
        refreshed(delivery.order).pin_hash == before,
        pin_matches(refreshed(delivery.order), delivery.order.delivery_pin),
        _events(delivery, "order.pin_resent"),
    ) == (True, True, True, [])


def test_only_customer_service_sends_a_new_pin(
    client: Client, delivery: Delivery, outbox: list[tuple[str, str]]
) -> None:
    client.force_login(delivery.dispatcher)
    page = _resend(client, delivery).content.decode()
    assert ("Only customer service sends a new delivery PIN." in page, outbox) == (True, [])


def test_a_finished_order_needs_no_new_pin(
    agent_client: Client, delivery: Delivery, outbox: list[tuple[str, str]]
) -> None:
    _picked_up(delivery)
    do_check_delivery_pin(
        order=delivery.order, pin=delivery.order.delivery_pin, actor=delivery.rider.user
    )
    from riders.delivery import hand_over_with_pin

    hand_over_with_pin(
        order=delivery.order, user=delivery.rider.user, pin=delivery.order.delivery_pin
    )
    page = _resend(agent_client, delivery).content.decode()
    assert ("This order is finished: it needs no PIN." in page, outbox) == (True, [])


# The PIN at intake.


def test_intake_texts_the_pin_after_commit_when_the_tenant_asks(
    outbox: list[tuple[str, str]], django_capture_on_commit_callbacks: Any
) -> None:
    tenant = TenantFactory(send_pin_by_sms=True)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order = OrderFactory(tenant=tenant)
        sent_before_commit = list(outbox)
    for callback in callbacks:
        callback()
    ((phone, text),) = outbox
    with tenant_scope(tenant):
        sent = AuditEvent.objects.filter(action="order.pin_sent").count()
    assert (sent_before_commit, phone, order.delivery_pin in text, order.code in text, sent) == (
        [],
        "13912345678",
        True,
        True,
        1,
    )


def test_intake_texts_nothing_when_the_tenant_does_not_ask(
    outbox: list[tuple[str, str]], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        OrderFactory(tenant=TenantFactory())
    assert outbox == []


def test_a_failed_sms_at_intake_leaves_the_order_as_taken(
    failing_sms: None, django_capture_on_commit_callbacks: Any
) -> None:
    tenant = TenantFactory(send_pin_by_sms=True)
    with django_capture_on_commit_callbacks(execute=True):
        order = OrderFactory(tenant=tenant)
    with tenant_scope(tenant):
        (failed,) = AuditEvent.objects.filter(action="order.pin_sms_failed")
    assert (
        refreshed(order).status,
        pin_matches(refreshed(order), order.delivery_pin),
        failed.details,
    ) == (Status.RECEIVED, True, {"error": "sms_not_sent"})


def test_the_customers_sms_is_in_the_sites_language_whatever_the_staff_reads(
    agent_client: Client, delivery: Delivery, outbox: list[tuple[str, str]]
) -> None:
    _picked_up(delivery)
    _resend(agent_client, delivery)  # the agent reads the back office in English
    ((_phone, text),) = outbox
    assert text.startswith("保密：您的订单 ")
