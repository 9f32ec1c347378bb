"""Riders' reads: the rider profile of a user, the agreement a rider still has to sign, the
live assignment of an order, the riders a dispatcher may choose from and the rider page's
order lists. Scoped reads only: nothing here writes a row or records an event (a GET of a
rider page runs only these)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import Count, Q

from orders.models import FINISHED, Order
from orders.selectors import get_order_for, orders_visible_to
from riders.eligibility import dispatch_blockers_of
from riders.models import AgreementSignature, Assignment, ConfidentialityAgreement, Rider
from tenants.models import Role, Tenant, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope
from tenants.versioning import current_version

# --- riders and agreements ------------------------------------------------------------------


def rider_of(user: Any) -> Rider | None:
    """The rider profile of ``user`` if they hold the rider role and have one."""
    if not isinstance(user, User) or user.tenant_id is None or not has_role(user, Role.RIDER):
        return None
    with tenant_scope(user.tenant_id):
        return Rider.objects.filter(user=user).select_related("user").first()


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
