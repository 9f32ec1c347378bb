"""Issue 15: a rider's address reveal follows the order's stage, through the API exactly as on
the rider page (one rule, privacy.permissions)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from audits.models import AuditEvent
from riders.delivery import confirm_pickup, hand_over_with_pin, hold_order
from riders.models import HeldLocation
from tenants.scoping import tenant_scope
from tests.riders.conftest import Delivery

pytestmark = pytest.mark.django_db(databases="__all__")

ADDRESS = "上海市浦东新区张江路88号7栋1201室"
NOT_YET = (
    "Not at this stage: the order is “Assigned to a rider”; Address may be revealed for "
    "this purpose only at: Picked up, Held in temporary storage."
)


@pytest.fixture
def rider_client(client: Client, delivery: Delivery) -> Client:
    client.force_login(delivery.rider.user)
    return client


def _reveal_address(client: Client, delivery: Delivery) -> Any:
    return client.post(
        f"/api/v1/orders/{delivery.order.pk}/reveal/",
        data={"fields": ["address"], "purpose": "delivery"},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )


def _pick_up(delivery: Delivery) -> None:
    confirm_pickup(
        order=delivery.order,
        user=delivery.rider.user,
        code=delivery.order.code,
        seal_number="SEAL-4242",
    )


def _events(delivery: Delivery, action: str) -> list[tuple[list[str], str]]:
    with tenant_scope(delivery.tenant):
        return [
            (event.fields, event.purpose)
            for event in AuditEvent.objects.filter(action=action).order_by("sequence")
        ]


def test_rider_api_reveal_of_the_address_is_refused_while_the_order_is_assigned(
    rider_client: Client, delivery: Delivery
) -> None:
    response = _reveal_address(rider_client, delivery)
    assert (response.status_code, response.json()) == (403, {"detail": NOT_YET})


def test_a_refused_rider_reveal_is_recorded(rider_client: Client, delivery: Delivery) -> None:
    _reveal_address(rider_client, delivery)
    assert _events(delivery, "privacy.reveal_denied") == [(["address"], "delivery")]


def test_rider_api_reveals_the_address_after_pickup(
    rider_client: Client, delivery: Delivery
) -> None:
    _pick_up(delivery)
    response = _reveal_address(rider_client, delivery)
    assert (response.status_code, response.json()) == (200, {"values": {"address": ADDRESS}})


def test_rider_api_reveals_the_address_while_the_order_is_held(
    rider_client: Client, delivery: Delivery
) -> None:
    _pick_up(delivery)
    hold_order(order=delivery.order, user=delivery.rider.user, location=HeldLocation.PARCEL_LOCKER)
    response = _reveal_address(rider_client, delivery)
    assert (response.status_code, response.json()) == (200, {"values": {"address": ADDRESS}})


def test_rider_api_reveal_of_the_address_is_refused_after_delivery(
    rider_client: Client, delivery: Delivery
) -> None:
    _pick_up(delivery)
    hand_over_with_pin(
        order=delivery.order, user=delivery.rider.user, pin=delivery.order.delivery_pin
    )
    # The delivered order has left the rider: as for any order not theirs, a 404.
    assert _reveal_address(rider_client, delivery).status_code == 404


def test_the_rider_page_before_pickup_shows_the_mask_and_records_no_refusal(
    rider_client: Client, delivery: Delivery
) -> None:
    html = rider_client.get(reverse("riders:order", args=[delivery.order.pk])).content.decode()
    assert (ADDRESS in html, _events(delivery, "privacy.reveal_denied")) == (False, [])
