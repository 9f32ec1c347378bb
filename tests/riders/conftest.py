from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from orders.lifecycle import transition_order
from orders.models import Order, Status
from riders.agreements import publish_agreement, sign_agreement
from riders.dispatch import assign_rider
from riders.models import Rider
from riders.profiles import ensure_rider_profile
from riders.selectors import current_agreement
from tenants.actors import SystemActor
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, TenantFactory, UserFactory

SYSTEM = SystemActor("tests")


def make_rider(
    tenant: Tenant, *, signed: bool = True, on_shift: bool = True, username: str | None = None
) -> Rider:
    user = UserFactory(
        tenant=tenant, roles=[Role.RIDER], **({"username": username} if username else {})
    )
    rider = ensure_rider_profile(user=user, actor=SYSTEM)
    with tenant_scope(tenant):
        Rider.objects.filter(pk=rider.pk).update(on_shift=on_shift)
        rider.refresh_from_db()
    agreement = current_agreement(tenant) or publish_agreement(
        tenant=tenant, actor=SYSTEM, text_zh="我承诺保密。", text_en="I promise confidentiality."
    )
    if signed:
        sign_agreement(rider=rider, version=agreement.version, language="zh-hans", ip="127.0.0.1")
    return rider


def packed_order(tenant: Tenant) -> Order:
    order = OrderFactory(tenant=tenant)
    transition_order(
        order=order, to=Status.PREPARING, actor=UserFactory(tenant=tenant, roles=[Role.KITCHEN])
    )
    transition_order(
        order=order,
        to=Status.PACKED,
        actor=UserFactory(tenant=tenant, roles=[Role.PACKER]),
        seal_number="SEAL-4242",
    )
    return order


@dataclass
class Delivery:
    tenant: Tenant
    order: Order
    rider: Rider
    dispatcher: User


@pytest.fixture
def delivery() -> Delivery:
    tenant = TenantFactory()
    order = packed_order(tenant)
    rider = make_rider(tenant)
    dispatcher = UserFactory(tenant=tenant, roles=[Role.DISPATCHER])
    assign_rider(order=order, rider=rider, actor=dispatcher)
    return Delivery(tenant, order, rider, dispatcher)


def refreshed(order: Order) -> Order:
    with tenant_scope(order.tenant):
        return Order.objects.get(pk=order.pk)


def perm_rows(order: Order) -> list[Any]:
    from orders.models import OrderUserObjectPermission

    return list(
        OrderUserObjectPermission.objects.filter(content_object_id=order.pk).values_list(
            "user_id", flat=True
        )
    )
