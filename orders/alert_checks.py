"""orders' part of the anomalous-access rule "reveals outside an assignment" (audits.alert_rules,
registered from orders' ready()): a reveal of an order at a state the revealer's roles do not
handle. Customer service and privacy officers handle an order at every state (calls,
erasure, investigations); the kitchen and packers only while it is at their station
(``STATION_STATUSES``); riders are judged by their assignment (riders.alert_checks); any other
role never reveals an order, so a reveal by one is flagged. The order's state then is read
from its status changes (``OrderTransition``), in two queries for all the reveals."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from audits.alert_rules import RevealFact
from orders.models import Order, OrderTransition, Status
from orders.selectors import STATION_STATUSES
from tenants.models import Membership, Role, Tenant
from tenants.scoping import tenant_scope

ORDER_TYPE = Order._meta.label_lower
#: Roles that handle an order at every state.
EVERY_STATE = frozenset({Role.CUSTOMER_SERVICE, Role.PRIVACY_OFFICER})


def _status_at(changes: list[tuple[datetime, str]], when: datetime) -> str:
    status = Status.RECEIVED.value
    for at, to_status in changes:
        if at > when:
            break
        status = to_status
    return status


def orders_not_handled(tenant: Tenant, reveals: Sequence[RevealFact]) -> set[int]:
    """The ids of the reveal events of orders at a state the revealer's roles never handle."""
    mine = [fact for fact in reveals if fact.object_type == ORDER_TYPE and fact.object_ids]
    if not mine:
        return set()
    with tenant_scope(tenant):
        roles: dict[int, set[str]] = defaultdict(set)
        for user_id, role in Membership.objects.filter(
            tenant=tenant, user_id__in={f.user_id for f in mine}
        ).values_list("user_id", "role"):
            roles[user_id].add(role)
        judged = [
            f
            for f in mine
            if not roles[f.user_id] & EVERY_STATE and Role.RIDER not in roles[f.user_id]
        ]
        if not judged:
            return set()
        order_ids = {order_id for f in judged for order_id in f.object_ids}
        changes: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
        for order_id, at, to_status in (
            OrderTransition.objects.filter(
                tenant=tenant,
                order_id__in=list(order_ids),
                at__lte=max(f.occurred_at for f in judged),
            )
            .order_by("at", "pk")
            .values_list("order_id", "at", "to_status")
        ):
            changes[str(order_id)].append((at, to_status))
    offending = set()
    for fact in judged:
        handled = {s for role in roles[fact.user_id] for s in STATION_STATUSES.get(role, ())}
        for order_id in fact.object_ids:
            if _status_at(changes[order_id], fact.occurred_at) not in handled:
                offending.add(fact.event_id)
                break
    return offending
