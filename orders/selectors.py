"""Reads of orders: always inside the tenant scope, filtered to what the actor may see."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import QuerySet

from orders.models import Order
from orders.permissions import ACTION_ROLES, Action, actor_roles
from tenants.actors import Actor
from tenants.models import User


def orders_visible_to(actor: Actor) -> QuerySet[Order]:
    """Every order of the actor's tenant for roles that see them all; a rider's assigned
    orders (guardian's direct foreign-key rows); nothing otherwise."""
    orders = Order.objects.all()
    if isinstance(actor, User) and not actor.is_active:
        return orders.none()
    if actor_roles(actor) & ACTION_ROLES[Action.LIST]:
        return orders
    if isinstance(actor, User):
        return orders.filter(
            orderuserobjectpermission__user=actor,
            orderuserobjectpermission__permission__codename="deliver_order",
        )
    return orders.none()


def get_order_for(actor: Actor, order_id: UUID | str, *, for_write: bool) -> Order:
    """The order if ``actor`` may see it; ``Order.DoesNotExist`` (a 404) otherwise — for
    another tenant's order too. ``for_write`` locks the row until the transaction ends."""
    orders: QuerySet[Order] = orders_visible_to(actor)
    if for_write:
        orders = orders.select_for_update(of=("self",))
    order = orders.get(pk=order_id)
    tenant_id: Any = getattr(actor, "tenant_id", order.tenant_id)
    if tenant_id != order.tenant_id:  # belt and braces: scope and actor must agree
        raise Order.DoesNotExist()
    return order
