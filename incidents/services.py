from __future__ import annotations

import unicodedata
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.services import record_event
from core.errors import Conflict
from incidents.models import NOTE_MAX_LENGTH, AnomalyKind, AnomalyOutcome, OrderAnomaly
from incidents.staff_notifications import notify_anomaly_assigned, notify_anomaly_opened
from orders.models import Order
from privacy.api import clean_text
from tenants.actors import Actor, actor_label
from tenants.models import Role, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope
from tenants.selectors import actor_names

RESOLVERS = (Role.CUSTOMER_SERVICE, Role.TENANT_ADMIN)


def report_anomaly(*, order: Order, kind: AnomalyKind | str, actor: Actor) -> OrderAnomaly:
    """Open an anomaly on ``order`` for customer service (audited); customer service is
    notified in the back office, and by the tenant's channel after the commit."""
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
        notify_anomaly_opened(anomaly)  # customer service (incidents.staff_notifications)
    return anomaly


def may_resolve_anomalies(actor: Actor) -> bool:
    return isinstance(actor, User) and has_role(actor, *RESOLVERS)


def resolve_anomaly(
    *, anomaly: OrderAnomaly, outcome: AnomalyOutcome | str, note: str, actor: Actor
) -> OrderAnomaly:
    """Customer service or a tenant administrator closes an anomaly with an outcome and a
    short note (no personal data: the form says so; control characters are refused, and
    the note is cleared if the customer's data is erased). Resolving a resolved anomaly is
    a ``Conflict``. Audited (``incidents.anomaly_resolved``: the outcome and the anomaly's
    id, never the note)."""
    if not may_resolve_anomalies(actor):
        raise PermissionDenied(
            _("Only customer service or a tenant administrator resolves anomalies.")
        )
    if outcome not in AnomalyOutcome.values:
        raise ValidationError({"outcome": _("Choose an outcome.")})
    text = clean_text("note", note or "", required=False)
    if any(unicodedata.category(char) == "Cc" for char in text):  # one line: no line breaks
        raise ValidationError({"note": _("Must not contain control characters.")})
    if len(text) > NOTE_MAX_LENGTH:
        raise ValidationError(
            {"note": _("At most %(limit)d characters.") % {"limit": NOTE_MAX_LENGTH}}
        )
    with transaction.atomic(), tenant_scope(anomaly.tenant):
        locked = OrderAnomaly.objects.select_for_update().get(pk=anomaly.pk)
        if not locked.is_open:
            who = actor_names([locked.resolved_by], tenant_id=locked.tenant_id)
            raise Conflict(
                _("This anomaly was already resolved by %(who)s.")
                % {"who": who.get(locked.resolved_by, locked.resolved_by)}
            )
        locked.outcome, locked.note = AnomalyOutcome(outcome), text
        locked.resolved_by, locked.resolved_at = actor_label(actor), timezone.now()
        locked.save(update_fields=["outcome", "note", "resolved_by", "resolved_at"])
        record_event(
            tenant=locked.tenant,
            actor=actor,
            action="incidents.anomaly_resolved",
            target=locked.order,
            details={"outcome": str(locked.outcome), "anomaly": locked.pk},
        )
    return locked


def open_anomalies_for_withdrawn_orders(
    *, orders: list[Order], actor: Actor, **_: Any
) -> list[OrderAnomaly]:
    """orders.signals.orders_withdrawn (registered in incidents' AppConfig.ready()): the
    customer's data was erased while the order was live; customer service follows up
    (the rider brings a picked-up package back). Runs in the withdrawal's transaction."""
    return [
        report_anomaly(order=order, kind=AnomalyKind.DATA_ERASED, actor=actor) for order in orders
    ]


# --- Assignment (issue 18, point 4): open -> assigned -> resolved ------------------------
# Customer service, a tenant administrator or a supervisor assigns an open anomaly to
# themselves or to someone who may resolve it (customer service, a tenant administrator);
# reassigning is the same move. Audited (``incidents.anomaly_assigned``: the anomaly's id
# and the assignee's actor label). The assignee hears of it when someone else assigned it.

ASSIGNERS = (Role.CUSTOMER_SERVICE, Role.TENANT_ADMIN, Role.SUPERVISOR)


def may_assign_anomalies(actor: Actor) -> bool:
    return isinstance(actor, User) and actor.is_active and has_role(actor, *ASSIGNERS)


def assignable_users(tenant_id: int) -> list[User]:
    """Who an anomaly can be assigned to: the tenant's active customer service and tenant
    administrators, by username (inside the tenant's scope)."""
    from tenants.models import Membership

    ids = Membership.objects.filter(role__in=RESOLVERS).values_list("user_id", flat=True)
    return list(
        User.objects.filter(pk__in=list(ids), tenant_id=tenant_id, is_active=True).order_by(
            "username"
        )
    )


def assign_anomaly(*, anomaly: OrderAnomaly, assignee: User, actor: Actor) -> OrderAnomaly:
    if not may_assign_anomalies(actor):
        raise PermissionDenied(
            _("Only customer service, a supervisor or a tenant administrator assigns anomalies.")
        )
    with transaction.atomic(), tenant_scope(anomaly.tenant):
        if (
            assignee.tenant_id != anomaly.tenant_id
            or not assignee.is_active
            or not has_role(assignee, *RESOLVERS)
        ):
            raise ValidationError(
                {"assignee": _("Choose someone of customer service or a tenant administrator.")}
            )
        locked = OrderAnomaly.objects.select_for_update().get(pk=anomaly.pk)
        if not locked.is_open:
            raise Conflict(_("This anomaly is resolved; it cannot be assigned."))
        label = actor_label(assignee)
        if locked.assigned_to == label:
            return locked
        locked.assigned_to, locked.assigned_at = label, timezone.now()
        locked.save(update_fields=["assigned_to", "assigned_at"])
        record_event(
            tenant=locked.tenant,
            actor=actor,
            action="incidents.anomaly_assigned",
            target=locked.order,
            details={"anomaly": locked.pk, "to": label},
        )
        if not isinstance(actor, User) or actor.pk != assignee.pk:
            notify_anomaly_assigned(locked, assignee)
    return locked
