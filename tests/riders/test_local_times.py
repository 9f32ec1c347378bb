"""Issue 17, point 8: times in each tenant's own time zone. The same instant, 02:05 UTC on
2 January 2026, is 10:05 in Asia/Shanghai and 03:05 in Europe/Berlin: each tenant's order
page, kitchen station and rider page show it in the tenant's zone; the platform operator,
who has no tenant, sees the platform's zone (settings.TIME_ZONE, Asia/Shanghai)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from orders.models import Order
from riders.delivery import confirm_pickup, hand_over_with_pin
from riders.dispatch import assign_rider
from riders.models import Assignment
from tenants.models import Role, Tenant
from tenants.scoping import tenant_scope
from tests.factories import (
    IntegrationTokenFactory,
    OperatorFactory,
    OrderFactory,
    TenantFactory,
    UserFactory,
)
from tests.riders.conftest import make_rider, packed_order

pytestmark = pytest.mark.django_db(databases="__all__")

INSTANT = datetime(2026, 1, 2, 2, 5, tzinfo=UTC)
ZONES = [
    # zone, the order page (English admin format), the rider page, the kitchen station
    ("Asia/Shanghai", "Jan. 2, 2026, 10:05 a.m.", "2026-01-02 10:05", "10:05"),
    ("Europe/Berlin", "Jan. 2, 2026, 3:05 a.m.", "2026-01-02 03:05", "03:05"),
]


def _created_at_instant(order: Order) -> Order:
    with tenant_scope(order.tenant):
        Order.objects.filter(pk=order.pk).update(created_at=INSTANT)
        return Order.objects.get(pk=order.pk)


def _delivered_at_instant(tenant: Tenant) -> tuple[Order, Client]:
    """An order of ``tenant`` delivered at INSTANT, and a client logged in as its rider."""
    order = packed_order(tenant)
    rider = make_rider(tenant)
    assign_rider(
        order=order, rider=rider, actor=UserFactory(tenant=tenant, roles=[Role.DISPATCHER])
    )
    confirm_pickup(order=order, user=rider.user, code=order.code, seal_number="SEAL-4242")
    assert hand_over_with_pin(order=order, user=rider.user, pin=order.delivery_pin)[0]
    with tenant_scope(tenant):
        Assignment.objects.filter(order=order).update(ended_at=INSTANT)
    client = Client()
    client.force_login(rider.user)
    return order, client


def _staff_client(tenant: Tenant, role: Role) -> Client:
    client = Client()
    client.force_login(UserFactory(tenant=tenant, roles=[role]))
    return client


@pytest.mark.parametrize(("zone", "order_page", "_rider", "_kitchen"), ZONES)
def test_the_order_page_shows_the_order_time_in_the_tenants_zone(
    zone: str, order_page: str, _rider: str, _kitchen: str
) -> None:
    tenant = TenantFactory(time_zone=zone)
    order = _created_at_instant(OrderFactory(tenant=tenant))
    client = _staff_client(tenant, Role.CUSTOMER_SERVICE)
    html = client.get(
        reverse("admin:orders_order_change", args=[order.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert order_page in html


@pytest.mark.parametrize(("zone", "_order", "rider_page", "_kitchen"), ZONES)
def test_the_rider_page_shows_the_delivery_time_in_the_tenants_zone(
    zone: str, _order: str, rider_page: str, _kitchen: str
) -> None:
    order, rider_client = _delivered_at_instant(TenantFactory(time_zone=zone))
    html = rider_client.get(
        reverse("riders:delivered", args=[order.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert f">{rider_page}</time>" in html


@pytest.mark.parametrize(("zone", "_order", "_rider", "kitchen"), ZONES)
def test_the_kitchen_station_shows_the_order_time_in_the_tenants_zone(
    zone: str, _order: str, _rider: str, kitchen: str
) -> None:
    tenant = TenantFactory(time_zone=zone)
    _created_at_instant(OrderFactory(tenant=tenant))
    html = _staff_client(tenant, Role.KITCHEN).get(reverse("orders:kitchen")).content.decode()
    assert f'<span class="age">{kitchen} · ' in html


def test_two_tenants_see_the_same_instant_at_different_local_times() -> None:
    pages = []
    for zone in ("Asia/Shanghai", "Europe/Berlin"):
        order, rider_client = _delivered_at_instant(TenantFactory(time_zone=zone))
        html = rider_client.get(reverse("riders:delivered", args=[order.pk])).content.decode()
        pages.append(html.split('<time datetime="')[1].split('"')[0])
    assert pages == ["2026-01-02T10:05:00+08:00", "2026-01-02T03:05:00+01:00"]


def test_the_platform_operator_sees_the_platforms_zone() -> None:
    order = _created_at_instant(OrderFactory(tenant=TenantFactory(time_zone="Europe/Berlin")))
    client = Client()
    client.force_login(OperatorFactory())
    html = client.get(
        reverse("admin:orders_order_change", args=[order.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert ("Jan. 2, 2026, 10:05 a.m." in html, "Jan. 2, 2026, 3:05 a.m." in html) == (
        True,
        False,
    )


@pytest.mark.parametrize(
    ("zone", "created_at"),
    [
        ("Asia/Shanghai", "2026-01-02T10:05:00+08:00"),
        ("Europe/Berlin", "2026-01-02T03:05:00+01:00"),
    ],
)
def test_the_api_gives_times_with_the_tenants_offset(
    client: Client, zone: str, created_at: str
) -> None:
    tenant = TenantFactory(time_zone=zone)
    token = IntegrationTokenFactory(tenant=tenant)
    order = _created_at_instant(OrderFactory(tenant=tenant))
    response = client.get(f"/api/v1/orders/{order.pk}/", HTTP_AUTHORIZATION=f"Bearer {token.raw}")
    assert response.json()["created_at"] == created_at
