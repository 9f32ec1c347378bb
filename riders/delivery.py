"""The rider's steps on the rider page — pickup, temporary storage, resuming, the address
and the delivery note, the relay call, handover with the PIN or a customer-service code,
problems — and customer service's handover codes.

Each step locks the order, checks that the acting rider holds the live assignment (404
otherwise), moves the order through orders' ``do_transition`` and records its audit event,
in one short transaction. Two rules hold on every path: no network call (call relay) runs
inside a transaction or under a row lock, and ``reveal`` is never called inside a
transaction (the vault's reveal commits its own audit event, whatever happens next). So
``call_customer`` runs in four steps: a short transaction that checks the assignment, the
reveal, the relay's bind, and a short transaction that re-checks the assignment and records
the call.
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.services import record_event
from core.errors import Conflict
from core.hashing import keyed_hash, keyed_hash_matches
from incidents.models import AnomalyKind
from incidents.services import report_anomaly
from orders.lifecycle import do_check_delivery_pin, do_transition
from orders.models import FINISHED, Order, Status
from privacy.api import Purpose, clean_text, may_reveal, reveal, seal
from riders.models import Assignment, HandoverCode, HeldLocation
from riders.relay import RelayUnavailable, relay_backend, release_binding
from riders.selectors import live_assignment
from tenants.actors import Actor, SystemActor, actor_label
from tenants.models import Role, SuspensionScope, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope
from tenants.suspensions import active_suspensions, suspended_message

logger = logging.getLogger(__name__)

HANDOVER_PURPOSE = "handover-code"
HANDOVER_CODE_LIFETIME = timedelta(hours=2)
RELAY = SystemActor("call-relay")
RELAY_PURPOSE: str = Purpose.CALL_RELAY

RIDER_PROBLEMS = (
    AnomalyKind.LOST,
    AnomalyKind.DAMAGED,
    AnomalyKind.WRONG_ADDRESS,
    AnomalyKind.CUSTOMER_UNREACHABLE,
)


def _rider_step(order: Order, user: User) -> tuple[Order, Assignment]:
    """Lock the order and return it with the acting rider's live assignment, or 404."""
    locked = Order.objects.select_for_update(of=("self",)).get(pk=order.pk)
    assignment = live_assignment(locked)
    if assignment is None or assignment.rider.user_id != user.pk or locked.status in FINISHED:
        raise Order.DoesNotExist()
    return locked, assignment


def _normal_code(text: Any) -> str:
    return re.sub(r"[\s-]", "", str(text or "")).upper()


def confirm_pickup(*, order: Order, user: User, code: str, seal_number: str) -> Order:
    """The rider scans or types the order code and the seal number; both must match. A
    mismatch is refused, and recorded (audit event and anomaly) even though it is refused."""
    with transaction.atomic(), tenant_scope(order.tenant):
        locked, assignment = _rider_step(order, user)
        if locked.status != Status.ASSIGNED:
            raise Conflict(_("This order was already picked up."), status=locked.status)
        code_ok = _normal_code(code) == _normal_code(locked.code)
        seal_ok = (seal_number or "").strip().upper() == locked.seal_number.upper()
        if code_ok and seal_ok:
            assignment.picked_up_at = timezone.now()
            assignment.save(update_fields=["picked_up_at"])
            return do_transition(locked, Status.PICKED_UP, user)
        record_event(
            tenant=locked.tenant,
            actor=user,
            action="riders.pickup_mismatch",
            target=locked,
            details={"code_ok": code_ok, "seal_ok": seal_ok},
        )
        report_anomaly(order=locked, kind=AnomalyKind.SEAL_MISMATCH, actor=user)
    # Raised after the commit: the refusal itself stays on record.
    if not code_ok:
        raise ValidationError({"code": _("This is not the order code on the package.")})
    raise ValidationError(
        {
            "seal_number": _(
                "The seal number does not match: do not take the package; call customer service."
            )
        }
    )


def hold_order(*, order: Order, user: User, location: str, note: str = "") -> Order:
    """Temporary storage: where the package is held and since when; the note is sealed."""
    if location not in HeldLocation.values:
        raise ValidationError({"location": _("Choose where the package is held.")})
    text = clean_text("note", note or "", required=False)
    if len(text) > 120:
        raise ValidationError({"note": _("At most %(limit)d characters.") % {"limit": 120}})
    with transaction.atomic(), tenant_scope(order.tenant):
        locked, assignment = _rider_step(order, user)
        assignment.held_location, assignment.held_at = location, timezone.now()
        assignment.held_note_ct = seal(assignment, "held_note", text)
        assignment.save(update_fields=["held_location", "held_at", "held_note_ct"])
        held = do_transition(locked, Status.HELD, user)
        record_event(
            tenant=locked.tenant,
            actor=user,
            action="riders.order_held",
            target=locked,
            details={"location": location},
        )
        return held


def resume_delivery(*, order: Order, user: User) -> Order:
    with transaction.atomic(), tenant_scope(order.tenant):
        locked, _assignment = _rider_step(order, user)
        return do_transition(locked, Status.PICKED_UP, user)


# What the rider sees in clear from the pickup on, revealed together: one event per view.
DELIVERY_FIELDS = ("address", "note")


def delivery_details(*, order: Order, user: User) -> dict[str, str] | None:
    """The full address and the customer's delivery note for the rider, in ONE audited
    reveal (purpose delivery) when the reveal rules allow it now — from the pickup until the
    order is finished; None otherwise (nothing revealed, nothing recorded). Call it outside
    any transaction: the reveal commits its own audit event."""
    if not may_reveal(order, fields=DELIVERY_FIELDS, actor=user, purpose=Purpose.DELIVERY):
        return None
    return reveal(order, fields=DELIVERY_FIELDS, actor=user, purpose=Purpose.DELIVERY)


def _bind(assignment_id: int, phone: str) -> str:
    """The relay's bind; any failure becomes ``RelayUnavailable`` (a message for the rider,
    never a 500), logged with the assignment and the error's type only."""
    try:
        return relay_backend().bind(assignment_id=assignment_id, customer_phone=phone)
    except RelayUnavailable:
        raise
    except Exception as error:  # any backend failure: a message for the rider
        logger.error(
            "relay: bind of assignment %s failed (%s)", assignment_id, type(error).__name__
        )
        # Not chained: an unknown backend's error text could repeat the customer's number.
        raise RelayUnavailable() from None


def _refuse_suspended(user: User) -> None:
    """A rider suspended from dispatch or from reveal (an incident's containment) keeps
    their assignments but calls no customer: a ``Conflict`` naming the suspension. One
    query on the suspensions' (tenant, scope, user) index."""
    held = active_suspensions([user.pk], [SuspensionScope.DISPATCH, SuspensionScope.REVEAL]).get(
        user.pk
    )
    if held is not None:
        raise Conflict(suspended_message(held), reason="suspended")


def call_customer(*, order: Order, user: User) -> str:
    """Bind (or reuse) the relay number of the rider's assignment; the rider dials it.

    (a) A short transaction locks the order and checks the rider holds its live assignment
    (404 otherwise) and is not suspended (409, ``_refuse_suspended``). (b) The relay's reveal of the phone runs outside any transaction: its
    audit event (or its refusal's, or its failure's) commits whatever happens next. (c) The
    relay's bind runs outside any transaction and lock; its failure is ``RelayUnavailable``
    (a ``Conflict``: a message on the rider page). (d) A short transaction re-checks that the
    assignment is still live and the rider's — if not, the binding is released and the
    answer is a 404 (or a 409 if the rider now holds another assignment of the order) — and
    records ``riders.relay_call``.
    """
    with tenant_scope(order.tenant):
        with transaction.atomic():
            locked, assignment = _rider_step(order, user)
            _refuse_suspended(user)
        phone = reveal(locked, fields=["phone"], actor=RELAY, purpose=RELAY_PURPOSE)["phone"]
        virtual = _bind(assignment.pk, phone)
        try:
            with transaction.atomic():
                locked, current = _rider_step(order, user)
                if current.pk != assignment.pk:
                    raise Conflict(
                        _("Your assignment of this order changed while calling; call again.")
                    )
                record_event(
                    tenant=locked.tenant,
                    actor=user,
                    action="riders.relay_call",
                    target=locked,
                    details={"assignment": assignment.pk},
                )
        except (Order.DoesNotExist, Conflict):
            release_binding(assignment.pk)
            raise
        return virtual


def call_customer_for_service(*, order: Order, actor: Actor) -> str:
    """Customer service's relay call about an order (incidents.anomaly_actions, registered
    in riders' AppConfig): the relay bridges per assignment, so the call goes through the
    order's live assignment's binding (a 409 when no rider holds the order). The phone is
    revealed to the relay only (its own audited purpose), never to the caller."""
    with tenant_scope(order.tenant):
        assignment = live_assignment(order)
        if assignment is None:
            raise Conflict(
                _("No rider holds this order: the relay bridges calls through a live assignment.")
            )
        phone = reveal(order, fields=["phone"], actor=RELAY, purpose=RELAY_PURPOSE)["phone"]
        return _bind(assignment.pk, phone)


def _deliver(locked: Order, user: User, how: str) -> Order:
    delivered = do_transition(locked, Status.DELIVERED, user)
    record_event(
        tenant=locked.tenant,
        actor=user,
        action="riders.handed_over",
        target=locked,
        details={"with": how},
    )
    return delivered


def hand_over_with_pin(*, order: Order, user: User, pin: str) -> tuple[bool, int]:
    """(delivered, attempts left). The fifth wrong PIN locks the order and opens an anomaly."""
    with tenant_scope(order.tenant):
        with transaction.atomic():
            locked, _assignment = _rider_step(order, user)
            if locked.status not in (Status.PICKED_UP, Status.HELD):
                raise Conflict(_("Confirm the pickup first."), status=locked.status)
        check = do_check_delivery_pin(order=locked, pin=pin, actor=user)
        with transaction.atomic():
            locked, _assignment = _rider_step(order, user)
            if check.accepted:
                _deliver(locked, user, "pin")
                return True, check.attempts_left
            if check.attempts_left == 0:
                report_anomaly(order=locked, kind=AnomalyKind.PIN_LOCKED, actor=user)
            return False, check.attempts_left


def issue_handover_code(*, order: Order, actor: Actor, reason: str) -> str:
    """Customer service, having verified the customer on a relay call, issues a single-use
    code for this order. Returns the code (shown once); stores who, why and its keyed hash."""
    if not isinstance(actor, User) or not has_role(actor, Role.CUSTOMER_SERVICE):
        raise PermissionDenied(_("Only customer service issues handover codes."))
    why = clean_text("note", reason or "", required=True)
    code = f"{secrets.randbelow(10**8):08d}"
    with transaction.atomic(), tenant_scope(order.tenant):
        locked = Order.objects.select_for_update(of=("self",)).get(pk=order.pk)
        if locked.status not in (Status.PICKED_UP, Status.HELD):
            raise Conflict(_("Handover codes are for orders on their way."), status=locked.status)
        HandoverCode.objects.filter(order=locked, used_at__isnull=True).update(
            expires_at=timezone.now()
        )
        record = HandoverCode(
            tenant=locked.tenant,
            order=locked,
            issued_by=actor_label(actor),
            reason=why[:200],
            code_hash=keyed_hash(HANDOVER_PURPOSE, locked.tenant_id, locked.pk, code),
            expires_at=timezone.now() + HANDOVER_CODE_LIFETIME,
        )
        record.save(force_insert=True)
        record_event(
            tenant=locked.tenant,
            actor=actor,
            action="riders.handover_code_issued",
            target=locked,
            details={"code": record.pk},
        )
    return code


def hand_over_with_code(*, order: Order, user: User, code: str) -> Order:
    with transaction.atomic(), tenant_scope(order.tenant):
        locked, _assignment = _rider_step(order, user)
        now = timezone.now()
        candidate = _normal_code(code)
        for record in HandoverCode.objects.select_for_update().filter(
            order=locked, used_at__isnull=True, expires_at__gt=now
        ):
            if keyed_hash_matches(
                record.code_hash, HANDOVER_PURPOSE, locked.tenant_id, locked.pk, candidate
            ):
                record.used_at = now
                record.save(update_fields=["used_at"])
                return _deliver(locked, user, "handover_code")
        record_event(
            tenant=locked.tenant,
            actor=user,
            action="riders.handover_code_rejected",
            target=locked,
        )
    raise ValidationError({"code": _("This handover code is not valid for this order.")})


def report_problem(*, order: Order, user: User, kind: str) -> None:
    if kind not in RIDER_PROBLEMS:
        raise ValidationError({"kind": _("Choose what went wrong.")})
    with transaction.atomic(), tenant_scope(order.tenant):
        locked, _assignment = _rider_step(order, user)
        report_anomaly(order=locked, kind=kind, actor=user)
