"""Reads of orders: always inside the tenant scope, filtered to what the actor may see.
Reads only (no writes, no row locks except ``get_order_for(..., for_write=True)``, which
only selects); plus ``items_of``, which reads the item list out of a reveal."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from orders.models import FINISHED, Order, OrderTransition, Status
from orders.permissions import ACTION_ROLES, Action, actor_roles
from tenants.actors import Actor
from tenants.models import Role, User


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


# What each station page works on.
STATION_STATUSES: dict[str, tuple[str, ...]] = {
    Role.KITCHEN: (Status.RECEIVED, Status.PREPARING),
    Role.PACKER: (Status.PREPARING, Status.PACKED),
}


def orders_at_station(actor: Actor) -> QuerySet[Order]:
    """The orders the kitchen (received, preparing) or packing (preparing, packed) pages
    show to ``actor``; nothing for other roles."""
    roles = actor_roles(actor)
    statuses = {s for role, group in STATION_STATUSES.items() if role in roles for s in group}
    if not statuses or (isinstance(actor, User) and not actor.is_active):
        return Order.objects.none()
    # An erased customer's order cannot be served (its items are gone): never on a station,
    # even in the moment before orders.lifecycle withdraws it.
    return Order.objects.filter(status__in=statuses, subject__erased_at__isnull=True)


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


def orders_listed(
    actor: Actor,
    *,
    status: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[Order]:
    """The API's order list: what ``actor`` may see, newest first, filtered by status and
    creation time (``created_after`` included, ``created_before`` excluded)."""
    orders = orders_visible_to(actor).order_by("-created_at")
    if status is not None:
        orders = orders.filter(status=status)
    if created_after is not None:
        orders = orders.filter(created_at__gte=created_after)
    if created_before is not None:
        orders = orders.filter(created_at__lt=created_before)
    return orders


def station_order_for(actor: Actor, order_id: UUID | str) -> Order:
    """An order at ``actor``'s station (kitchen, packing) or one they may open;
    ``Order.DoesNotExist`` (a 404) otherwise."""
    station = orders_at_station(actor).filter(pk=order_id).first()
    if station is not None:
        return station
    return get_order_for(actor, order_id, for_write=False)


@dataclass(frozen=True)
class KitchenBoard:
    """The kitchen board's three columns, each oldest first and cut at the board's limit,
    and how many orders each column holds in all (a column may hold more than it shows)."""

    received: list[Order]
    preparing: list[Order]
    ready: list[Order]
    counts: dict[str, int]


# The board's columns: received; preparing (food not ready); food ready, waiting for packing.
_RECEIVED = Q(status=Status.RECEIVED)
_PREPARING = Q(status=Status.PREPARING, kitchen_ready_at__isnull=True)
_READY = Q(status=Status.PREPARING, kitchen_ready_at__isnull=False)


def kitchen_board(actor: Actor, limit: int) -> KitchenBoard:
    """The kitchen board: each column's oldest ``limit`` orders and every column's count
    (four queries, whatever the tenant holds). Received and preparing orders in the order
    they came in; ready ones in the order their food was ready."""
    orders = orders_at_station(actor).filter(status__in=[Status.RECEIVED, Status.PREPARING])
    counts = orders.aggregate(
        received=Count("pk", filter=_RECEIVED),
        preparing=Count("pk", filter=_PREPARING),
        ready=Count("pk", filter=_READY),
    )
    return KitchenBoard(
        received=list(orders.filter(_RECEIVED).order_by("created_at")[:limit]),
        preparing=list(orders.filter(_PREPARING).order_by("created_at")[:limit]),
        ready=list(orders.filter(_READY).order_by("kitchen_ready_at")[:limit]),
        counts={name: int(n or 0) for name, n in counts.items()},
    )


def ready_to_pack(actor: Actor, limit: int) -> list[Order]:
    """The packing page's work: preparing orders whose food is ready, in the order it was."""
    return list(
        orders_at_station(actor)
        .filter(status=Status.PREPARING, kitchen_ready_at__isnull=False)
        .order_by("kitchen_ready_at")[:limit]
    )


def recently_packed(actor: Actor, limit: int) -> list[Order]:
    """The packing page's last packed orders (labels to print), latest first."""
    return list(
        orders_at_station(actor).filter(status=Status.PACKED).order_by("-status_changed_at")[:limit]
    )


def transitions_of(order: Order) -> QuerySet[OrderTransition]:
    """The order's status changes, oldest first (the back office's history)."""
    return OrderTransition.objects.filter(order=order).order_by("at")


def subjects_done_before(tenant: Any, cutoff: Any, after: UUID | None = None) -> QuerySet[Any]:
    """Ids of not-yet-erased customers who have orders, all finished, the last before
    ``cutoff`` (the retention sweep's source); with ``after``, only ids above it.

    Driven from the live customers (a partial index holds only those), each checked with
    two index probes on their orders: the cost follows the customers still held, not every
    order the tenant ever took (erased customers' orders stay for statistics).
    """
    from privacy.api import DataSubject

    subjects = DataSubject.objects.filter(erased_at__isnull=True)
    orders = Order.objects.filter(subject=OuterRef("pk"))
    if after is not None:
        # The bound goes on the orders too. PostgreSQL carries equalities across a join,
        # not ranges: without it, a merge join read the tenant's orders from the first
        # customer on every page, so a sweep's pages cost more and more (quadratic).
        subjects = subjects.filter(pk__gt=after)
        orders = orders.filter(subject__gt=after)
    blocking = orders.filter(~Q(status__in=FINISHED) | Q(status_changed_at__gt=cutoff))
    return (
        subjects.filter(Exists(orders), ~Exists(blocking)).order_by().values_list("pk", flat=True)
    )


def order_with_code(tenant: Any, code: str) -> Order | None:
    """The tenant's order with this code (the public erasure page's lookup)."""
    normal = code.strip().upper().replace(" ", "")
    if len(normal) == 10 and "-" not in normal:
        normal = f"{normal[:5]}-{normal[5:]}"
    return Order.objects.filter(code=normal).select_related("tenant").first()


def items_of(revealed: Mapping[str, str]) -> list[dict[str, Any]]:
    """The item list from a reveal of ``items``."""
    return json.loads(revealed["items"]) if revealed.get("items") else []
