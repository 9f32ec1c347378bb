"""Riders' reads: the rider profile of a user, the agreement a rider still has to sign, the
live assignment of an order, the riders a dispatcher may choose from and the rider page's
order lists. Scoped reads only: nothing here writes a row or records an event (a GET of a
rider page runs only these)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from orders.models import FINISHED, Order, Status
from orders.selectors import get_order_for, orders_visible_to
from riders.eligibility import dispatch_blockers_of
from riders.models import (
    AgreementSignature,
    Assignment,
    ConfidentialityAgreement,
    EndReason,
    Rider,
)
from tenants.actors import Actor
from tenants.models import Role, Tenant, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope
from tenants.selectors import time_zone_of
from tenants.versioning import current_version

# --- riders and agreements ------------------------------------------------------------------


def rider_by_pk(pk: Any) -> Rider | None:
    """A rider of the current tenant scope by primary key (None for a bad or unknown key)."""
    try:
        key = int(pk)
    except (TypeError, ValueError):
        return None
    return Rider.objects.filter(pk=key).select_related("user").first()


def current_agreement(tenant: Tenant | int) -> ConfidentialityAgreement | None:
    return current_version(ConfidentialityAgreement, tenant)


def agreement_to_sign(user: User) -> ConfidentialityAgreement | None:
    """The current agreement if the rider ``user`` has not signed it yet (a rider without a
    profile has signed nothing: the profile is created when they sign)."""
    if user.tenant_id is None:
        return None
    with tenant_scope(user.tenant_id):
        current = current_version(ConfidentialityAgreement, user.tenant_id)
        if (
            current is None
            or AgreementSignature.objects.filter(rider__user=user, agreement=current).exists()
        ):
            return None
        return current


# --- dispatch --------------------------------------------------------------------------------


def live_assignment(order: Order) -> Assignment | None:
    """The order's assignment that has not ended, with its rider and user."""
    return (
        Assignment.objects.select_related("rider__user")
        .filter(order=order, ended_at__isnull=True)
        .first()
    )


def eligible_riders(tenant: Tenant) -> list[Rider]:
    """On-shift, active riders who may be dispatched, least loaded first (a constant number
    of queries, whatever the number of riders)."""
    with tenant_scope(tenant):
        riders = list(
            Rider.objects.filter(on_shift=True, is_active=True, user__is_active=True)
            .select_related("user")
            .annotate(load=Count("assignments", filter=Q(assignments__ended_at__isnull=True)))
            .order_by("load", "pk")
        )
        blockers = dispatch_blockers_of(riders)
        return [rider for rider in riders if not blockers[rider.pk]]


def dispatch_choices() -> list[tuple[Rider, list[str]]]:
    """Active riders of the current tenant scope by name, each with why they cannot be
    dispatched now (empty when eligible): the dispatcher's list on the order page."""
    riders = list(
        Rider.objects.select_related("user").filter(is_active=True).order_by("user__username")
    )
    blockers = dispatch_blockers_of(riders)
    return [(rider, blockers[rider.pk]) for rider in riders]


# --- the dispatch board ----------------------------------------------------------------------


@dataclass(frozen=True)
class BoardRider:
    """A rider on the dispatch board: live assignments and why they cannot be dispatched
    now (empty when eligible)."""

    rider: Rider
    load: int
    blockers: list[str]

    @property
    def eligible(self) -> bool:
        return not self.blockers


def board_riders() -> list[BoardRider]:
    """The active riders of the current tenant scope for the dispatch board: those who may
    be dispatched first, least loaded first (``eligible_riders``' order), then the others
    (on shift before off shift) by name, each with the reasons of ``dispatch_blockers_of``
    — a constant number of queries, whatever the number of riders."""
    riders = list(
        Rider.objects.filter(is_active=True)
        .select_related("user")
        .annotate(load=Count("assignments", filter=Q(assignments__ended_at__isnull=True)))
        .order_by("-on_shift", "load", "user__username")
    )
    blockers = dispatch_blockers_of(riders)
    rows = [BoardRider(rider, rider.load, blockers[rider.pk]) for rider in riders]
    return sorted(rows, key=lambda row: not row.eligible)  # stable: keeps the order above


def _waiting_for_rider(actor: Actor) -> QuerySet[Order]:
    # An erased customer's order is being withdrawn (orders.lifecycle): never offered.
    return orders_visible_to(actor).filter(status=Status.PACKED, subject__erased_at__isnull=True)


def orders_waiting_for_rider(actor: Actor, *, limit: int) -> list[Order]:
    """Packed orders waiting for a rider, longest waiting first (by the time they were
    packed); at most ``limit``."""
    return list(_waiting_for_rider(actor).order_by("status_changed_at", "pk")[:limit])


def count_waiting_for_rider(actor: Actor) -> int:
    return _waiting_for_rider(actor).count()


# --- the rider page --------------------------------------------------------------------------


def open_orders_of(user: User, *, limit: int = 50) -> list[Order]:
    """The rider's assigned orders that are not finished, oldest status change first."""
    return list(
        orders_visible_to(user).exclude(status__in=FINISHED).order_by("status_changed_at")[:limit]
    )


def open_order_of(user: User, order_id: UUID) -> Order:
    """One of the rider's unfinished orders; ``Order.DoesNotExist`` (a 404) otherwise."""
    order = get_order_for(user, order_id, for_write=False)
    if order.status in FINISHED:
        raise Order.DoesNotExist()
    return order


# --- finished orders: codes, outcomes and times only -----------------------------------------

# An assignment that ended because its order finished (not one that was handed to another
# rider or taken back): the rider's own finished order.
FINISHED_ENDS = (EndReason.DELIVERED, EndReason.FAILED, EndReason.CANCELLED)
# The rider's deliveries of the day: the orders the rider finished at the door.
DELIVERY_ENDS = (EndReason.DELIVERED, EndReason.FAILED)


def tenant_zone(tenant_id: int | None) -> ZoneInfo:
    """The tenant's time zone (``Tenant.time_zone``), in which the rider pages show times
    and count "today"; named explicitly rather than taken from the request's active zone,
    so that the same answer comes from a task or a test. This is the one place the rider
    pages read it."""
    return time_zone_of(tenant_id)


@dataclass(frozen=True)
class FinishedOrder:
    """What a rider may still see of an order they finished: no personal data."""

    order_id: UUID
    code: str
    outcome: str  # EndReason: delivered, failed or cancelled
    outcome_label: str
    finished_at: datetime  # in the tenant's time zone

    @property
    def delivered(self) -> bool:
        return self.outcome == EndReason.DELIVERED


def _finished(row: dict[str, Any], zone: ZoneInfo) -> FinishedOrder:
    return FinishedOrder(
        order_id=row["order_id"],
        code=row["order__code"],
        outcome=row["end_reason"],
        outcome_label=str(EndReason(row["end_reason"]).label),
        finished_at=timezone.localtime(row["ended_at"], zone),
    )


_FINISHED_COLUMNS = ("order_id", "order__code", "end_reason", "ended_at")


def finished_order_of(user: User, order_id: UUID) -> FinishedOrder | None:
    """The order ``order_id`` if ``user``'s assignment of it ended because the order
    finished; None for an order still open, another rider's, one taken from this rider, or
    another tenant's (the rider's own tenant only)."""
    if user.tenant_id is None or not has_role(user, Role.RIDER):
        return None
    with tenant_scope(user.tenant_id):
        row = (
            Assignment.objects.filter(
                rider__user=user, order_id=order_id, end_reason__in=FINISHED_ENDS
            )
            .order_by("-ended_at")
            .values(*_FINISHED_COLUMNS)
            .first()
        )
    return None if row is None else _finished(row, tenant_zone(user.tenant_id))


def finished_today_of(user: User, *, limit: int = 50) -> list[FinishedOrder]:
    """The rider's deliveries finished today (delivered or failed at the door), in the
    tenant's time zone, newest first: codes, outcomes and times only, in one query."""
    if user.tenant_id is None:
        return []
    zone = tenant_zone(user.tenant_id)
    start = datetime.combine(timezone.localdate(timezone.now(), zone), time.min, tzinfo=zone)
    with tenant_scope(user.tenant_id):
        rows = list(
            Assignment.objects.filter(
                rider__user=user, end_reason__in=DELIVERY_ENDS, ended_at__gte=start
            )
            .order_by("-ended_at")
            .values(*_FINISHED_COLUMNS)[:limit]
        )
    return [_finished(row, zone) for row in rows]
