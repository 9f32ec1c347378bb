"""The order's lifecycle after intake: status changes (``transition_order``, the generic
one that checks the actor's roles; ``do_transition`` for flows that checked their own), the
kitchen's "food ready" and the delivery PIN check. Each step is recorded (a status change
row, an audit event) in the transaction that makes it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.services import record_event
from core.errors import Conflict
from orders.intake import pin_matches
from orders.models import FINISHED, PIN_MAX_ATTEMPTS, Order, OrderTransition, Status
from orders.permissions import FLOW_TARGETS, NEXT_STATUSES, may_transition_to
from orders.signals import order_transitioned, orders_withdrawn
from tenants.actors import Actor, SystemActor, actor_label
from tenants.models import Tenant
from tenants.scoping import tenant_scope

SEAL_PATTERN = re.compile(r"^[A-Za-z0-9-]{4,32}$")


def _check_lifecycle(order: Order, to: str, *, through_flow: bool = True) -> None:
    """409 for a transition the lifecycle forbids, naming the allowed next statuses (those of
    the generic transition only, when it is the one asked)."""
    if to not in NEXT_STATUSES.get(order.status, ()):
        allowed = [
            s for s in NEXT_STATUSES.get(order.status, ()) if through_flow or s not in FLOW_TARGETS
        ]
        raise Conflict(
            _("An order that is %(status)s cannot become %(to)s.")
            % {"status": order.status, "to": to},
            status=order.status,
            allowed=allowed,
        )


def do_transition(
    order: Order, to: str, actor: Actor, *, reason: str = "", **changes: Any
) -> Order:
    """Move ``order`` to ``to`` (lifecycle checked), recording who and when, in the caller's
    transaction.

    Trusts its caller: no permission check here. The caller has checked that ``actor`` may
    make this move, and holds the order's row lock (``select_for_update``) inside its
    ``transaction.atomic()`` and tenant scope, so ``order`` is the locked row. For flows that
    check their own permissions under that lock (the rider flow); everything else goes
    through ``transition_order``."""
    _check_lifecycle(order, to)
    previous = order.status
    order.status = to
    order.status_changed_at = timezone.now()
    for field, value in changes.items():
        setattr(order, field, value)
    order.save(update_fields=["status", "status_changed_at", *changes])
    OrderTransition(
        tenant=order.tenant,
        order=order,
        from_status=previous,
        to_status=to,
        actor=actor_label(actor),
    ).save()
    # Later layers react in this same transaction (riders: end the assignment, revoke access).
    order_transitioned.send(sender=Order, order=order, previous=previous, to=to, actor=actor)
    record_event(
        tenant=order.tenant,
        actor=actor,
        action="order.transition",
        target=order,
        details={
            "from": previous,
            "to": to,
            **({"seal": True} if "seal_number" in changes else {}),
            **({"reason": reason} if reason else {}),
        },
    )
    return order


def transition_order(*, order: Order, to: str, actor: Actor, seal_number: str = "") -> Order:
    """The generic transition (admin button, API): validated in one place under a row lock,
    so two concurrent transitions of one order cannot both succeed."""
    if to not in Status.values:
        raise ValidationError({"to": _("Unknown status %(to)r.") % {"to": to}})
    seal = (seal_number or "").strip()
    if to == Status.PACKED and not SEAL_PATTERN.match(seal):
        raise ValidationError(
            {"seal_number": _("Enter the seal's number: 4 to 32 letters, digits or hyphens.")}
        )
    with transaction.atomic(), tenant_scope(order.tenant):
        locked = Order.objects.select_for_update(of=("self",)).get(pk=order.pk)
        _check_lifecycle(locked, to, through_flow=False)
        if to in FLOW_TARGETS:
            raise Conflict(
                _("Moving an order to %(to)s goes through %(flow)s.")
                % {"to": to, "flow": FLOW_TARGETS[to]},
                status=locked.status,
                allowed=[s for s in NEXT_STATUSES[locked.status] if s not in FLOW_TARGETS],
            )
        if not may_transition_to(actor, to):
            raise PermissionDenied(_("Your roles may not move an order to %(to)s.") % {"to": to})
        return do_transition(
            locked, to, actor, **({"seal_number": seal} if to == Status.PACKED else {})
        )


def mark_food_ready(*, order: Order, actor: Actor) -> Order:
    """The kitchen's "ready": the food of a preparing order is done and waits for packing."""
    if not may_transition_to(actor, Status.PREPARING):
        raise PermissionDenied(_("Only the kitchen marks food ready."))
    with transaction.atomic(), tenant_scope(order.tenant):
        locked = Order.objects.select_for_update(of=("self",)).get(pk=order.pk)
        if locked.status != Status.PREPARING:
            raise Conflict(_("Only an order being prepared can be ready."), status=locked.status)
        if locked.kitchen_ready_at is None:
            locked.kitchen_ready_at = timezone.now()
            locked.save(update_fields=["kitchen_ready_at"])
            record_event(
                tenant=locked.tenant, actor=actor, action="order.food_ready", target=locked
            )
        return locked


@dataclass(frozen=True)
class PinCheck:
    accepted: bool
    attempts_left: int


def do_check_delivery_pin(*, order: Order, pin: str, actor: Actor) -> PinCheck:
    """Compare ``pin`` with the order's keyed PIN hash in constant time. Wrong PINs count;
    the fifth locks the order's PIN for good (customer service then issues a handover code).

    Trusts its caller: no permission check here. The caller (the rider's handover) has
    checked that ``actor`` is the order's assigned rider and that the order is on its way.
    Takes the order's row lock itself, in its own transaction (or the caller's)."""
    with transaction.atomic(), tenant_scope(order.tenant):
        locked = Order.objects.select_for_update(of=("self",)).get(pk=order.pk)
        if locked.pin_locked_at is not None:
            raise Conflict(
                _("The PIN is locked after too many wrong attempts; call customer service.")
            )
        candidate = pin.strip() if isinstance(pin, str) else ""
        if pin_matches(locked, candidate):
            record_event(
                tenant=locked.tenant, actor=actor, action="order.pin_accepted", target=locked
            )
            return PinCheck(accepted=True, attempts_left=PIN_MAX_ATTEMPTS - locked.pin_attempts)
        locked.pin_attempts += 1
        fields = ["pin_attempts"]
        if locked.pin_attempts >= PIN_MAX_ATTEMPTS:
            locked.pin_locked_at = timezone.now()
            fields.append("pin_locked_at")
        locked.save(update_fields=fields)
        record_event(
            tenant=locked.tenant,
            actor=actor,
            action="order.pin_locked" if locked.pin_locked_at else "order.pin_rejected",
            target=locked,
            details={"attempts": locked.pin_attempts},
        )
        order.pin_attempts, order.pin_locked_at = locked.pin_attempts, locked.pin_locked_at
        return PinCheck(accepted=False, attempts_left=PIN_MAX_ATTEMPTS - locked.pin_attempts)


# What happens to a live order whose customer's data is erased (docs/decisions/0009 and
# docs/privacy.md, "Erasure meets live orders"): without the address it cannot be delivered.
# Not yet with a rider: cancelled (the kitchen stops, a packed box is not dispatched, an
# assigned rider is released). Already with the rider (picked up, held): the delivery
# failed, and the rider brings the package back as after any failed delivery.
ERASED_CUSTOMER_REASON = "customer_data_erased"
ERASURE_ACTOR = SystemActor("erasure")
WITHDRAWN_TO: dict[str, str] = {
    Status.RECEIVED: Status.CANCELLED,
    Status.PREPARING: Status.CANCELLED,
    Status.PACKED: Status.CANCELLED,
    Status.ASSIGNED: Status.CANCELLED,
    Status.PICKED_UP: Status.FAILED,
    Status.HELD: Status.FAILED,
}


def withdraw_orders_of_erased_subjects(
    *, tenant: Tenant, subject_ids: list[Any], actor: Actor = ERASURE_ACTOR
) -> list[Order]:
    """Take the erased customers' unfinished orders out of the kitchen and rider flow
    (``WITHDRAWN_TO``), in one transaction under the orders' row locks, each change recorded
    like any other (status row, ``order.transition`` with the reason) and the assignment
    ended by riders' ``order_transitioned`` receiver; then ``orders_withdrawn`` lets
    incidents open an anomaly on each, in the same transaction. Orders already finished are
    left alone. Returns the orders withdrawn."""
    if not subject_ids:
        return []
    with transaction.atomic(), tenant_scope(tenant):
        live = list(
            Order.objects.select_for_update(of=("self",))
            .filter(subject__any=list(subject_ids))
            .exclude(status__in=FINISHED)
            .order_by("created_at")
        )
        for order in live:
            do_transition(order, WITHDRAWN_TO[order.status], actor, reason=ERASED_CUSTOMER_REASON)
        if live:
            orders_withdrawn.send(
                sender=Order, tenant=tenant, orders=live, reason=ERASED_CUSTOMER_REASON, actor=actor
            )
    return live


def on_subjects_erased(*, tenant: Tenant, subject_ids: list[Any], **_: Any) -> None:
    """privacy.api.subjects_erased (registered in orders' AppConfig.ready())."""
    withdraw_orders_of_erased_subjects(tenant=tenant, subject_ids=subject_ids)
