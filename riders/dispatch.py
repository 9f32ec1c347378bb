"""Dispatch: a dispatcher (or auto-assignment) gives a packed order to an eligible rider,
and every assignment ends — on delivery, failure, cancellation, unassignment (the
``order_transitioned`` receiver) or reassignment.

Assignment grants guardian's ``deliver_order`` on the order and the end of an assignment
revokes it, each in the transaction that locks the order. The relay binding of an ended
assignment is released after that transaction commits (no network call under the lock); a
failing release is logged, it does not undo the end of the assignment.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from guardian.shortcuts import assign_perm, remove_perm

from audits.services import record_event
from core.errors import Conflict
from orders.lifecycle import do_transition
from orders.models import Order, Status
from riders.eligibility import dispatch_blockers
from riders.models import Assignment, EndReason, Rider
from riders.relay import release_binding
from riders.selectors import eligible_riders, live_assignment
from tenants.actors import Actor, actor_label
from tenants.models import Role, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope
from training.gates import dispatch_gate

DELIVER_PERMISSION = "orders.deliver_order"


def _require_dispatcher(actor: Actor) -> None:
    if not isinstance(actor, User) or not actor.is_active or not has_role(actor, Role.DISPATCHER):
        raise PermissionDenied(_("Only a dispatcher assigns riders."))


def _end(assignment: Assignment, reason: EndReason, actor: Actor) -> None:
    """End ``assignment`` inside the caller's transaction (which holds the order's lock)."""
    assignment.ended_at, assignment.end_reason = timezone.now(), reason
    assignment.save(update_fields=["ended_at", "end_reason"])
    remove_perm(DELIVER_PERMISSION, assignment.rider.user, assignment.order)
    assignment_id = assignment.pk
    transaction.on_commit(lambda: release_binding(assignment_id))
    record_event(
        tenant=assignment.order.tenant,
        actor=actor,
        action="riders.order_unassigned",
        target=assignment.order,
        details={"rider": assignment.rider_id, "reason": reason.value},
    )


def assign_rider(*, order: Order, rider: Rider, actor: Actor, reassign: bool = True) -> Assignment:
    """Give a packed order (or an assigned one, to reassign) to an eligible rider. With
    ``reassign=False`` (the dispatch board, where the order was shown as waiting) an order
    that someone assigned in the meantime is a conflict, not a reassignment."""
    _require_dispatcher(actor)
    if rider.tenant_id != order.tenant_id:
        raise Rider.DoesNotExist()
    try:
        with transaction.atomic(), tenant_scope(order.tenant):
            locked = Order.objects.select_for_update(of=("self",)).get(pk=order.pk)
            if locked.status not in (Status.PACKED, Status.ASSIGNED):
                raise Conflict(
                    _("Only a packed order can be assigned (this one is %(status)s).")
                    % {"status": Status(locked.status).label},
                    status=locked.status,
                )
            if locked.status == Status.ASSIGNED and not reassign:
                taken = live_assignment(locked)
                raise Conflict(
                    _("Order %(code)s was already assigned to %(rider)s.")
                    % {"code": locked.code, "rider": taken.rider if taken else _("another rider")},
                    status=locked.status,
                )
            blockers = dispatch_blockers(rider)
            if blockers:
                raise _Undispatchable(blockers)
            current = live_assignment(locked)
            if current is not None and current.rider_id == rider.pk:
                return current
            if current is not None:
                _end(current, EndReason.REASSIGNED, actor)
            assignment = Assignment(
                tenant=locked.tenant, order=locked, rider=rider, assigned_by=actor_label(actor)
            )
            assignment.save(force_insert=True)
            assign_perm(DELIVER_PERMISSION, rider.user, locked)
            if locked.status == Status.PACKED:
                do_transition(locked, Status.ASSIGNED, actor)
            record_event(
                tenant=locked.tenant,
                actor=actor,
                action="riders.order_assigned",
                target=locked,
                details={
                    "rider": rider.pk,
                    "reassigned": current is not None,
                    **_training_details(rider),
                },
            )
            order.status = locked.status
    except _Undispatchable as refused:
        _record_refusal(order, rider, actor, refused.blockers)
        raise Conflict(
            _("%(rider)s cannot be dispatched: %(why)s.")
            % {"rider": rider, "why": "; ".join(refused.blockers)},
            missing=refused.blockers,
        ) from None
    return assignment


class _Undispatchable(Exception):
    def __init__(self, blockers: list[str]) -> None:
        self.blockers = blockers
        super().__init__("; ".join(blockers))


def _training_details(rider: Rider) -> dict[str, list[str]]:
    """The training gate's decision for the audit event (training.gates: refused courses,
    or courses only warned about under the grace period)."""
    return dispatch_gate([rider.user_id], rider.tenant)[rider.user_id].audit_details()


def _record_refusal(order: Order, rider: Rider, actor: Actor, blockers: list[str]) -> None:
    """A refused assignment is a gate decision: recorded after the refused transaction
    rolled back (the event commits on its own when the caller holds no transaction)."""
    with tenant_scope(order.tenant):
        record_event(
            tenant=order.tenant,
            actor=actor,
            action="riders.dispatch_refused",
            target=order,
            details={"rider": rider.pk, "reasons": len(blockers), **_training_details(rider)},
        )


def auto_assign(*, order: Order, actor: Actor, reassign: bool = True) -> Assignment:
    """Assign the least-loaded eligible rider (``reassign`` as in ``assign_rider``)."""
    _require_dispatcher(actor)
    candidates = eligible_riders(order.tenant)
    if not candidates:
        raise Conflict(
            _(
                "No rider can be dispatched now (on shift, active, agreement signed, "
                "training current)."
            ),
            missing=["rider"],
        )
    return assign_rider(order=order, rider=candidates[0], actor=actor, reassign=reassign)


def end_assignment_of_finished_order(
    *, order: Order, previous: str, to: str, actor: Actor, **_: Any
) -> None:
    """orders.signals.order_transitioned: a finished or unassigned order leaves its rider
    (permission revoked in the same transaction as the status change)."""
    reasons: dict[str, EndReason] = {
        Status.DELIVERED: EndReason.DELIVERED,
        Status.FAILED: EndReason.FAILED,
        Status.CANCELLED: EndReason.CANCELLED,
        Status.PACKED: EndReason.UNASSIGNED,
    }
    if to not in reasons or (to == Status.PACKED and previous != Status.ASSIGNED):
        return
    current = live_assignment(order)
    if current is not None:
        _end(current, reasons[to], actor)
