from __future__ import annotations

from django.db import transaction

from audits.services import record_event
from incidents.models import AnomalyKind, OrderAnomaly
from orders.models import Order
from tenants.actors import Actor, actor_label
from tenants.scoping import tenant_scope


def report_anomaly(*, order: Order, kind: AnomalyKind | str, actor: Actor) -> OrderAnomaly:
    """Open an anomaly on ``order`` for customer service (audited)."""
    kind = AnomalyKind(kind)
    with transaction.atomic(), tenant_scope(order.tenant):
        anomaly = OrderAnomaly(
            tenant=order.tenant, order=order, kind=kind, reported_by=actor_label(actor)
        )
        anomaly.save(force_insert=True)
        record_event(
            tenant=order.tenant,
            actor=actor,
            action="incidents.anomaly_reported",
            target=order,
            details={"kind": kind.value, "anomaly": anomaly.pk},
        )
    return anomaly
