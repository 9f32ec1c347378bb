from __future__ import annotations

from typing import Any

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


def open_anomalies_for_withdrawn_orders(
    *, orders: list[Order], actor: Actor, **_: Any
) -> list[OrderAnomaly]:
    """orders.signals.orders_withdrawn (registered in incidents' AppConfig.ready()): the
    customer's data was erased while the order was live; customer service follows up
    (the rider brings a picked-up package back). Runs in the withdrawal's transaction."""
    return [
        report_anomaly(order=order, kind=AnomalyKind.DATA_ERASED, actor=actor) for order in orders
    ]
