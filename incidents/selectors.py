"""Reads of order anomalies: inside the tenant scope, for actors who may see them."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from incidents.models import OrderAnomaly
from orders.desk import DeskQueue, DeskRow
from tenants.models import User


def open_anomalies(actor: User, limit: int) -> list[OrderAnomaly]:
    """The newest open anomalies of ``actor``'s tenant with their orders (one query); none
    for an actor who may not view anomalies."""
    if not actor.is_active or not actor.has_perm("incidents.view_orderanomaly"):
        return []
    return list(
        OrderAnomaly.objects.filter(resolved_at__isnull=True, order__tenant_id=actor.tenant_id)
        .select_related("order")
        .order_by("-reported_at")[:limit]
    )


def open_anomaly_count(actor: User) -> int:
    """How many anomalies of ``actor``'s tenant are open (the desk's badge: one COUNT that
    the ``anomaly_open`` index (tenant, resolved_at, …) answers)."""
    if not actor.is_active or not actor.has_perm("incidents.view_orderanomaly"):
        return 0
    return OrderAnomaly.objects.filter(tenant_id=actor.tenant_id, resolved_at__isnull=True).count()


def open_anomaly_rows(actor: User, limit: int) -> list[DeskRow]:
    """The order desk's "open anomalies" list (orders.desk)."""
    return [
        DeskRow(order=anomaly.order, reason=anomaly.get_kind_display(), at=anomaly.reported_at)
        for anomaly in open_anomalies(actor, limit)
    ]


OPEN_ANOMALIES_QUEUE = DeskQueue(
    key="open-anomalies",
    title=_("Orders with an open anomaly"),
    rows=open_anomaly_rows,
    more_url_name="admin:incidents_orderanomaly_changelist",
    more_query="?state=open",
    more_label=_("Open anomalies"),
)
