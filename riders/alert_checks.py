"""riders' part of the anomalous-access rules (audits.alert_rules, registered from riders'
ready()):

- "reveals outside an assignment": a rider's reveal of an order they were not assigned to at
  that moment (no ``Assignment`` of theirs covering the time: assigned before, not ended
  before). The reveal gate already asks for guardian's object permission; this catches a
  permission left behind, or granted by hand.
- "reveals outside the rider's shift": a rider's reveal while their profile said "off
  shift". The shift is a flag on the profile; each change is recorded with its new value
  (``riders.rider_changed``, ``on_shift``), so the state at a moment is the last change
  before it. A rider whose shift was never changed through the back office (seeded data,
  changes before this was recorded) has no known state then and is not flagged: the limit
  is written in docs/decisions/0012-access-alerts.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from audits.alert_rules import RevealFact
from audits.models import AuditEvent
from orders.models import Order
from riders.models import Assignment, Rider
from tenants.models import Tenant
from tenants.scoping import tenant_scope

ORDER_TYPE = Order._meta.label_lower
RIDER_TYPE = Rider._meta.label_lower


def _riders(tenant: Tenant, reveals: Sequence[RevealFact]) -> dict[int, int]:
    """user id → rider id, for the revealers who are riders."""
    return dict(
        Rider.objects.filter(tenant=tenant, user_id__in={f.user_id for f in reveals}).values_list(
            "user_id", "pk"
        )
    )


def orders_not_assigned(tenant: Tenant, reveals: Sequence[RevealFact]) -> set[int]:
    """The ids of riders' reveal events of an order not assigned to them at that moment."""
    mine = [f for f in reveals if f.object_type == ORDER_TYPE and f.object_ids]
    if not mine:
        return set()
    with tenant_scope(tenant):
        riders = _riders(tenant, mine)
        judged = [f for f in mine if f.user_id in riders]
        if not judged:
            return set()
        spans: dict[tuple[int, str], list[tuple[datetime, datetime | None]]] = defaultdict(list)
        for rider_id, order_id, start, end in Assignment.objects.filter(
            tenant=tenant,
            rider_id__in={riders[f.user_id] for f in judged},
            order_id__in=list({o for f in judged for o in f.object_ids}),
        ).values_list("rider_id", "order_id", "assigned_at", "ended_at"):
            spans[(rider_id, str(order_id))].append((start, end))
    offending = set()
    for fact in judged:
        rider_id = riders[fact.user_id]
        for order_id in fact.object_ids:
            covered = any(
                start <= fact.occurred_at and (end is None or end >= fact.occurred_at)
                for start, end in spans[(rider_id, order_id)]
            )
            if not covered:
                offending.add(fact.event_id)
                break
    return offending


def off_shift(tenant: Tenant, reveals: Sequence[RevealFact]) -> set[int]:
    """The ids of riders' reveal events made while their recorded shift state was "off"."""
    if not reveals:
        return set()
    with tenant_scope(tenant):
        riders = _riders(tenant, reveals)
        judged = [f for f in reveals if f.user_id in riders]
        if not judged:
            return set()
        changes: dict[str, list[tuple[datetime, bool]]] = defaultdict(list)
        for object_id, at, details in (
            AuditEvent.objects.filter(
                tenant=tenant,
                object_type=RIDER_TYPE,
                object_id__in=[str(riders[f.user_id]) for f in judged],
                action="riders.rider_changed",
                occurred_at__lte=max(f.occurred_at for f in judged),
            )
            .order_by("sequence")
            .values_list("object_id", "occurred_at", "details")
        ):
            if isinstance(details, dict) and isinstance(details.get("on_shift"), bool):
                changes[object_id].append((at, details["on_shift"]))
    offending = set()
    for fact in judged:
        state: bool | None = None
        for at, on_shift in changes[str(riders[fact.user_id])]:
            if at > fact.occurred_at:
                break
            state = on_shift
        if state is False:
            offending.add(fact.event_id)
    return offending
