"""The rider page, step by step (the browser test walks the same path in Chromium)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from audits.models import AuditEvent
from incidents.models import OrderAnomaly
from orders.models import Status
from riders.delivery import issue_handover_code
from riders.models import AgreementSignature
from tenants.models import LoginSession, Role
from tenants.scoping import tenant_scope
from tenants.services import end_sessions
from tests.factories import PASSWORD, UserFactory
from tests.riders.conftest import Delivery, make_rider, packed_order, perm_rows, refreshed

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def rider_client(client: Client, delivery: Delivery) -> Client:
    client.force_login(delivery.rider.user)
    return client


def _url(name: str, delivery: Delivery) -> str:
    return reverse(f"riders:{name}", args=[delivery.order.pk])


def _pick_up(client: Client, delivery: Delivery, seal: str = "SEAL-4242") -> Any:
    return client.post(
        _url("pickup", delivery),
        {"code": delivery.order.code.lower().replace("-", ""), "seal_number": seal},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )


def _events(delivery: Delivery, action: str) -> list[AuditEvent]:
    with tenant_scope(delivery.tenant):
        return list(AuditEvent.objects.filter(action=action))


def test_first_login_asks_for_the_agreement_and_records_the_signature(client: Client) -> None:
    tenant_rider = make_rider(packed_order(UserFactory().tenant).tenant, signed=False)
    client.post(
        reverse("riders:login"), {"username": tenant_rider.user.username, "password": PASSWORD}
    )
    first = client.get(reverse("riders:home"))
    client.post(
        reverse("riders:agreement"), {"agree": "yes", "version": "1"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    with tenant_scope(tenant_rider.tenant):
        signature = AgreementSignature.objects.get(rider=tenant_rider)
    assert (
        first.status_code,
        first.url,
        signature.language,
        signature.ip,
        len(signature.text_sha256),
    ) == (
        302,
        reverse("riders:agreement"),
        "en",
        "127.0.0.1",
        64,
    )


def test_the_agreement_must_be_ticked(client: Client) -> None:
    rider = make_rider(UserFactory().tenant, signed=False)
    client.force_login(rider.user)
    client.post(reverse("riders:agreement"), {"version": "1"})
    with tenant_scope(rider.tenant):
        assert not AgreementSignature.objects.filter(rider=rider).exists()


def test_my_orders_shows_own_orders_with_masks_only(
    rider_client: Client, delivery: Delivery
) -> None:
    other = make_rider(delivery.tenant)
    from riders.dispatch import assign_rider

    theirs = packed_order(delivery.tenant)
    assign_rider(order=theirs, rider=other, actor=delivery.dispatcher)
    html = rider_client.get(reverse("riders:home")).content.decode()
    assert (
        delivery.order.code in html,
        theirs.code in html,
        "欧阳娜娜" in html,
        "13912345678" in html,
        "宫保鸡丁" in html,
        delivery.order.recipient_masked in html,
    ) == (True, False, False, False, False, True)


def test_my_orders_needs_a_bounded_number_of_queries(
    rider_client: Client, delivery: Delivery, django_assert_max_num_queries: Any
) -> None:
    from riders.dispatch import assign_rider

    for _ in range(8):
        assign_rider(
            order=packed_order(delivery.tenant), rider=delivery.rider, actor=delivery.dispatcher
        )
    for _ in range(5):
        packed_order(delivery.tenant)  # the tenant's other orders
    with django_assert_max_num_queries(12):
        response = rider_client.get(reverse("riders:home"))
    assert response.content.decode().count("data-order=") == 9


def test_before_pickup_the_address_is_street_level(
    rider_client: Client, delivery: Delivery
) -> None:
    html = rider_client.get(_url("order", delivery)).content.decode()
    assert ("上海市浦东新区张江路****" in html, "88号" in html) == (True, False)


def test_pickup_with_a_wrong_seal_is_refused_and_recorded(
    rider_client: Client, delivery: Delivery
) -> None:
    response = _pick_up(rider_client, delivery, seal="SEAL-0000")
    with tenant_scope(delivery.tenant):
        anomalies = list(OrderAnomaly.objects.values_list("kind", flat=True))
    assert (
        refreshed(delivery.order).status,
        "seal number does not match" in response.content.decode(),
        anomalies,
        len(_events(delivery, "riders.pickup_mismatch")),
    ) == ("assigned", True, ["seal_mismatch"], 1)


def test_after_pickup_the_full_address_is_revealed_and_audited(
    rider_client: Client, delivery: Delivery
) -> None:
    html = _pick_up(rider_client, delivery).content.decode()
    (event,) = _events(delivery, "privacy.reveal")
    assert (
        refreshed(delivery.order).status,
        "上海市浦东新区张江路88号7栋1201室" in html,
        event.purpose,
        event.fields,
    ) == (
        "picked_up",
        True,
        "delivery",
        ["address", "note"],
    )


def test_the_call_button_gives_a_relay_number_never_the_phone(
    rider_client: Client, delivery: Delivery
) -> None:
    _pick_up(rider_client, delivery)
    html = rider_client.post(_url("call", delivery), follow=True).content.decode()
    assert (
        'href="tel:+86950' in html,
        "13912345678" in html,
        len(_events(delivery, "riders.relay_call")),
    ) == (True, False, 1)


def test_reloading_the_call_page_shows_the_number_without_calling_again(
    rider_client: Client, delivery: Delivery
) -> None:
    _pick_up(rider_client, delivery)
    posted = rider_client.post(_url("call", delivery))
    reloaded = rider_client.get(posted["Location"]).content.decode()
    assert (
        posted.status_code,
        'href="tel:+86950' in reloaded,
        len(_events(delivery, "riders.relay_call")),
        [e.purpose for e in _events(delivery, "privacy.reveal")].count("call_relay"),
    ) == (302, True, 1, 1)


def test_the_call_page_without_a_call_goes_back_to_the_order(
    rider_client: Client, delivery: Delivery
) -> None:
    _pick_up(rider_client, delivery)
    response = rider_client.get(_url("call", delivery))
    assert (response.status_code, response["Location"]) == (302, _url("order", delivery))


def test_temporary_storage_marks_the_order_held(rider_client: Client, delivery: Delivery) -> None:
    _pick_up(rider_client, delivery)
    rider_client.post(_url("hold", delivery), {"location": "parcel_locker", "note": "柜 12"})
    assert refreshed(delivery.order).status == "held"


def test_wrong_pin_says_how_many_attempts_remain(rider_client: Client, delivery: Delivery) -> None:
    _pick_up(rider_client, delivery)
    wrong = "000000" if delivery.order.delivery_pin != "000000" else "111111"
    html = rider_client.post(
        _url("handover", delivery), {"pin": wrong}, follow=True, HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert "Wrong PIN. 4 attempts left." in html


def test_fifth_wrong_pin_locks_and_opens_an_anomaly(
    rider_client: Client, delivery: Delivery
) -> None:
    _pick_up(rider_client, delivery)
    wrong = "000000" if delivery.order.delivery_pin != "000000" else "111111"
    for _ in range(5):
        rider_client.post(_url("handover", delivery), {"pin": wrong})
    with tenant_scope(delivery.tenant):
        kinds = list(OrderAnomaly.objects.values_list("kind", flat=True))
    assert (kinds, refreshed(delivery.order).pin_locked_at is not None) == (["pin_locked"], True)


def test_right_pin_delivers_and_the_order_leaves_the_rider_at_once(
    client: Client, rider_client: Client, delivery: Delivery
) -> None:
    _pick_up(rider_client, delivery)
    rider_client.post(_url("handover", delivery), {"pin": delivery.order.delivery_pin})
    listing = rider_client.get(reverse("riders:home")).content.decode()
    # The old link now says the order is finished (tests/riders/test_rider_day.py).
    assert (
        refreshed(delivery.order).status,
        f'data-order="{delivery.order.code}"' in listing,
        f'data-finished="{delivery.order.code}"' in listing,
        perm_rows(delivery.order),
        rider_client.get(f"/api/v1/orders/{delivery.order.pk}/").status_code,
    ) == ("delivered", False, True, [], 404)


def test_after_delivery_the_api_is_404_for_the_rider(
    rider_client: Client, delivery: Delivery
) -> None:
    _pick_up(rider_client, delivery)
    rider_client.post(_url("handover", delivery), {"pin": delivery.order.delivery_pin})
    assert rider_client.get(f"/api/v1/orders/{delivery.order.pk}/").status_code == 404


def test_handover_code_from_customer_service_delivers_once(
    rider_client: Client, delivery: Delivery
) -> None:
    _pick_up(rider_client, delivery)
    agent = UserFactory(tenant=delivery.tenant, roles=[Role.CUSTOMER_SERVICE])
    code = issue_handover_code(order=delivery.order, actor=agent, reason="verified on relay call")
    rider_client.post(_url("handover", delivery), {"handover_code": code})
    (event,) = _events(delivery, "riders.handover_code_issued")
    assert (refreshed(delivery.order).status, event.actor) == ("delivered", f"user:{agent.pk}")


def test_a_wrong_handover_code_is_refused(rider_client: Client, delivery: Delivery) -> None:
    _pick_up(rider_client, delivery)
    agent = UserFactory(tenant=delivery.tenant, roles=[Role.CUSTOMER_SERVICE])
    issue_handover_code(order=delivery.order, actor=agent, reason="verified")
    html = rider_client.post(
        _url("handover", delivery),
        {"handover_code": "12345678"},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    ).content.decode()
    assert (refreshed(delivery.order).status, "not valid for this order" in html) == (
        "picked_up",
        True,
    )


def test_reporting_a_problem_opens_an_anomaly(rider_client: Client, delivery: Delivery) -> None:
    rider_client.post(_url("problem", delivery), {"kind": "damaged"})
    with tenant_scope(delivery.tenant):
        assert list(OrderAnomaly.objects.values_list("kind", flat=True)) == ["damaged"]


@pytest.mark.parametrize("step", ["order", "pickup", "hold", "call", "handover", "problem"])
def test_another_riders_order_is_404(client: Client, delivery: Delivery, step: str) -> None:
    client.force_login(make_rider(delivery.tenant).user)
    response = (
        client.get(_url(step, delivery))
        if step == "order"
        else client.post(_url(step, delivery), {})
    )
    assert response.status_code == 404


def test_staff_cannot_use_the_rider_page(client: Client) -> None:
    client.force_login(UserFactory(roles=[Role.DISPATCHER]))
    assert client.get(reverse("riders:home")).status_code == 403


def test_tenant_admin_ends_a_stolen_session(client: Client, delivery: Delivery) -> None:
    client.post(
        reverse("riders:login"), {"username": delivery.rider.user.username, "password": PASSWORD}
    )
    assert client.get(reverse("riders:home")).status_code == 200
    admin = UserFactory(tenant=delivery.tenant, roles=[Role.TENANT_ADMIN])
    ended = end_sessions(user=delivery.rider.user, actor=admin)
    with tenant_scope(delivery.tenant):
        left = LoginSession.objects.filter(user=delivery.rider.user).count()
    assert (ended, left, client.get(reverse("riders:home")).status_code) == (1, 0, 302)


def test_order_status_after_the_full_flow_is_recorded(
    rider_client: Client, delivery: Delivery
) -> None:
    _pick_up(rider_client, delivery)
    rider_client.post(_url("handover", delivery), {"pin": delivery.order.delivery_pin})
    from orders.models import OrderTransition

    with tenant_scope(delivery.tenant):
        path = list(
            OrderTransition.objects.filter(order=delivery.order)
            .order_by("at")
            .values_list("to_status", flat=True)
        )
    assert path == [
        Status.RECEIVED,
        Status.PREPARING,
        Status.PACKED,
        Status.ASSIGNED,
        Status.PICKED_UP,
        Status.DELIVERED,
    ]


def test_a_customer_erased_mid_delivery_gets_a_message_not_an_error(
    rider_client: Client, delivery: Delivery
) -> None:
    from privacy.erasure import erase_subject
    from privacy.models import ErasureReason
    from tenants.actors import SystemActor

    _pick_up(rider_client, delivery)
    erase_subject(
        tenant=delivery.tenant,
        subject_id=delivery.order.subject_id,
        reason=ErasureReason.ADMINISTRATOR,
        actor=SystemActor("tests"),
    )
    responses = [
        rider_client.post(
            _url(step, delivery), {"location": "parcel_locker"}, HTTP_ACCEPT_LANGUAGE="en"
        )
        for step in ("call", "hold")
    ]
    page = rider_client.get(_url("order", delivery), HTTP_ACCEPT_LANGUAGE="en")
    assert ([r.status_code for r in responses], "has been erased" in page.content.decode()) == (
        [302, 302],
        True,
    )


def test_erasure_clears_the_handover_reason_and_the_storage_note(
    rider_client: Client, delivery: Delivery
) -> None:
    from privacy.erasure import erase_subject
    from privacy.models import ErasureReason
    from riders.models import Assignment, HandoverCode
    from tenants.actors import SystemActor

    _pick_up(rider_client, delivery)
    rider_client.post(_url("hold", delivery), {"location": "parcel_locker", "note": "柜 12"})
    agent = UserFactory(tenant=delivery.tenant, roles=[Role.CUSTOMER_SERVICE])
    issue_handover_code(order=delivery.order, actor=agent, reason="客户王先生电话核验")
    erase_subject(
        tenant=delivery.tenant,
        subject_id=delivery.order.subject_id,
        reason=ErasureReason.ADMINISTRATOR,
        actor=SystemActor("tests"),
    )
    with tenant_scope(delivery.tenant):
        reasons = set(HandoverCode.objects.values_list("reason", flat=True))
        notes = {bytes(n) for n in Assignment.objects.values_list("held_note_ct", flat=True)}
    assert (reasons, notes) == ({""}, {b""})
