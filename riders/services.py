"""Rider use cases: agreements, dispatch, and the delivery steps on the rider page.

Every step locks the order row, checks that the acting rider holds the live assignment,
moves the order through orders.services.apply_transition and writes the audit event, all
in one transaction. Assignment grants guardian's ``deliver_order`` on the order; the end of
an assignment (delivery, failure, cancellation, reassignment) revokes it in the same
transaction.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from guardian.shortcuts import assign_perm, remove_perm

from audits.services import record_event
from core.errors import Conflict
from core.hashing import keyed_hash, keyed_hash_matches
from incidents.models import AnomalyKind
from incidents.services import report_anomaly
from orders.lifecycle import do_check_delivery_pin, do_transition
from orders.models import FINISHED, Order, Status
from privacy.api import Purpose, clean_text, may_reveal, reveal, seal
from riders.eligibility import dispatch_blockers
from riders.models import (
    AgreementSignature,
    Assignment,
    ConfidentialityAgreement,
    EndReason,
    HandoverCode,
    HeldLocation,
    Rider,
)
from riders.relay import relay_backend
from tenants.actors import Actor, SystemActor, actor_label
from tenants.models import Role, Tenant, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope
from tenants.versioning import current_version, publish_next_version, require_current, text_sha256

DELIVER_PERMISSION = "orders.deliver_order"
HANDOVER_PURPOSE = "handover-code"
HANDOVER_CODE_LIFETIME = timedelta(hours=2)
RELAY = SystemActor("call-relay")


# --- agreements ---------------------------------------------------------------------------


def publish_agreement(
    *, tenant: Tenant, actor: Actor, text_zh: str, text_en: str
) -> ConfidentialityAgreement:
    if isinstance(actor, User) and (
        actor.tenant_id != tenant.pk or not has_role(actor, Role.TENANT_ADMIN)
    ):
        raise PermissionDenied(_("Only a tenant administrator publishes the agreement."))
    errors = {
        f: _("This field is required.")
        for f, v in (("text_zh", text_zh), ("text_en", text_en))
        if not v.strip()
    }
    if errors:
        raise ValidationError(errors)
    return publish_next_version(
        ConfidentialityAgreement,
        tenant=tenant,
        actor=actor,
        values={"text_zh": text_zh.strip(), "text_en": text_en.strip()},
        record=lambda agreement: record_event(
            tenant=tenant,
            actor=actor,
            action="riders.agreement_published",
            target=agreement,
            details={"version": agreement.version},
        ),
    )


def current_agreement(tenant: Tenant) -> ConfidentialityAgreement | None:
    return current_version(ConfidentialityAgreement, tenant)


def rider_of(user: Any) -> Rider | None:
    if not isinstance(user, User) or user.tenant_id is None or not has_role(user, Role.RIDER):
        return None
    with tenant_scope(user.tenant_id):
        return Rider.objects.filter(user=user).select_related("user").first()


def ensure_rider_profile(*, user: User, actor: Actor) -> Rider:
    """The rider profile of a user holding the rider role (created on first need)."""
    if not has_role(user, Role.RIDER):
        raise ValidationError({"user": _("This user does not hold the rider role.")})
    with transaction.atomic(), tenant_scope(user.tenant_id):
        rider, created = Rider.objects.get_or_create(tenant_id=user.tenant_id, user=user)
        if created:
            record_event(
                tenant=rider.tenant, actor=actor, action="riders.rider_created", target=rider
            )
    return rider


def update_rider(*, rider: Rider, actor: Actor, changed_fields: list[str]) -> Rider:
    """Save a rider profile edited in the back office (vehicle, shift, active)."""
    if not isinstance(actor, User) or not has_role(actor, Role.TENANT_ADMIN, Role.DISPATCHER):
        raise PermissionDenied(_("Only administrators and dispatchers edit riders."))
    with transaction.atomic(), tenant_scope(rider.tenant_id):
        rider.save(
            update_fields=[f for f in changed_fields if f in {"vehicle", "on_shift", "is_active"}]
            or None
        )
        record_event(
            tenant=rider.tenant,
            actor=actor,
            action="riders.rider_changed",
            target=rider,
            details={"fields": sorted(changed_fields)},
        )
    return rider


def agreement_to_sign(rider: Rider) -> ConfidentialityAgreement | None:
    """The current agreement if the rider has not signed it yet."""
    with tenant_scope(rider.tenant_id):
        current = current_version(ConfidentialityAgreement, rider.tenant_id)
        if (
            current is None
            or AgreementSignature.objects.filter(rider=rider, agreement=current).exists()
        ):
            return None
        return current


def sign_agreement(
    *, rider: Rider, version: int, language: str, ip: str | None
) -> AgreementSignature:
    with transaction.atomic(), tenant_scope(rider.tenant_id):
        agreement = require_current(
            ConfidentialityAgreement,
            rider.tenant_id,
            version,
            _("This agreement version is no longer current; read the new one."),
        )
        shown_language, text = agreement.text_for(language)
        signature, _created = AgreementSignature.objects.get_or_create(
            tenant_id=rider.tenant_id,
            rider=rider,
            agreement=agreement,
            defaults={
                "language": shown_language,
                "ip": ip,
                "text_sha256": text_sha256(text),
            },
        )
        record_event(
            tenant=rider.tenant,
            actor=rider.user,
            action="riders.agreement_signed",
            target=signature,
            details={"version": agreement.version, "language": shown_language},
        )
    return signature


# --- dispatch -----------------------------------------------------------------------------


def _require_dispatcher(actor: Actor) -> None:
    if not isinstance(actor, User) or not actor.is_active or not has_role(actor, Role.DISPATCHER):
        raise PermissionDenied(_("Only a dispatcher assigns riders."))


def _live_assignment(order: Order) -> Assignment | None:
    return (
        Assignment.objects.select_related("rider__user")
        .filter(order=order, ended_at__isnull=True)
        .first()
    )


def _end(assignment: Assignment, reason: EndReason, actor: Actor) -> None:
    assignment.ended_at, assignment.end_reason = timezone.now(), reason
    assignment.save(update_fields=["ended_at", "end_reason"])
    remove_perm(DELIVER_PERMISSION, assignment.rider.user, assignment.order)
    relay_backend().release(assignment_id=assignment.pk)
    record_event(
        tenant=assignment.order.tenant,
        actor=actor,
        action="order.unassigned",
        target=assignment.order,
        details={"rider": assignment.rider_id, "reason": reason.value},
    )


def assign_rider(*, order: Order, rider: Rider, actor: Actor) -> Assignment:
    """Give a packed order (or an assigned one, to reassign) to an eligible rider."""
    _require_dispatcher(actor)
    if rider.tenant_id != order.tenant_id:
        raise Rider.DoesNotExist()
    with transaction.atomic(), tenant_scope(order.tenant):
        locked = Order.objects.select_for_update(of=("self",)).get(pk=order.pk)
        if locked.status not in (Status.PACKED, Status.ASSIGNED):
            raise Conflict(
                _("Only a packed order can be assigned (this one is %(status)s).")
                % {"status": locked.status},
                status=locked.status,
            )
        blockers = dispatch_blockers(rider)
        if blockers:
            raise Conflict(
                _("%(rider)s cannot be dispatched: %(why)s.")
                % {"rider": rider, "why": "; ".join(blockers)},
                missing=blockers,
            )
        current = _live_assignment(locked)
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
            action="order.assigned",
            target=locked,
            details={"rider": rider.pk, "reassigned": current is not None},
        )
        order.status = locked.status
    return assignment


def eligible_riders(tenant: Tenant) -> list[Rider]:
    """On-shift, active riders who may be dispatched, least loaded first."""
    with tenant_scope(tenant):
        riders = (
            Rider.objects.filter(on_shift=True, is_active=True, user__is_active=True)
            .select_related("user")
            .annotate(load=Count("assignments", filter=Q(assignments__ended_at__isnull=True)))
            .order_by("load", "pk")
        )
        return [rider for rider in riders if not dispatch_blockers(rider)]


def auto_assign(*, order: Order, actor: Actor) -> Assignment:
    _require_dispatcher(actor)
    candidates = eligible_riders(order.tenant)
    if not candidates:
        raise Conflict(
            _("No rider can be dispatched now (on shift, active, agreement signed)."),
            missing=["rider"],
        )
    return assign_rider(order=order, rider=candidates[0], actor=actor)


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
    current = _live_assignment(order)
    if current is not None:
        _end(current, reasons[to], actor)


# --- the rider's steps --------------------------------------------------------------------


def _rider_step(order: Order, user: User) -> tuple[Order, Assignment]:
    """Lock the order and return it with the acting rider's live assignment, or 404."""
    locked = Order.objects.select_for_update(of=("self",)).get(pk=order.pk)
    assignment = _live_assignment(locked)
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
            action="order.pickup_mismatch",
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
            action="order.held",
            target=locked,
            details={"location": location},
        )
        return held


def resume_delivery(*, order: Order, user: User) -> Order:
    with transaction.atomic(), tenant_scope(order.tenant):
        locked, _assignment = _rider_step(order, user)
        return do_transition(locked, Status.PICKED_UP, user)


def delivery_address(*, order: Order, user: User) -> str | None:
    """The full address for the rider (audited reveal, purpose delivery) when the reveal
    rules allow it now — from the pickup until the order is finished; None otherwise."""
    if not may_reveal(order, fields=["address"], actor=user, purpose=Purpose.DELIVERY):
        return None
    return reveal(order, fields=["address"], actor=user, purpose=Purpose.DELIVERY)["address"]


def call_customer(*, order: Order, user: User) -> str:
    """Bind (or reuse) the relay number of this assignment; the rider dials it."""
    with transaction.atomic(), tenant_scope(order.tenant):
        locked, assignment = _rider_step(order, user)
        phone = reveal(locked, fields=["phone"], actor=RELAY, purpose=Purpose.CALL_RELAY)["phone"]
        virtual = relay_backend().bind(assignment_id=assignment.pk, customer_phone=phone)
        record_event(
            tenant=locked.tenant,
            actor=user,
            action="order.relay_call",
            target=locked,
            details={"assignment": assignment.pk},
        )
        return virtual


def _deliver(locked: Order, user: User, how: str) -> Order:
    delivered = do_transition(locked, Status.DELIVERED, user)
    record_event(
        tenant=locked.tenant,
        actor=user,
        action="order.handed_over",
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
            action="order.handover_code_issued",
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
            tenant=locked.tenant, actor=user, action="order.handover_code_rejected", target=locked
        )
    raise ValidationError({"code": _("This handover code is not valid for this order.")})


RIDER_PROBLEMS = (
    AnomalyKind.LOST,
    AnomalyKind.DAMAGED,
    AnomalyKind.WRONG_ADDRESS,
    AnomalyKind.CUSTOMER_UNREACHABLE,
)


def report_problem(*, order: Order, user: User, kind: str) -> None:
    if kind not in RIDER_PROBLEMS:
        raise ValidationError({"kind": _("Choose what went wrong.")})
    with transaction.atomic(), tenant_scope(order.tenant):
        locked, _assignment = _rider_step(order, user)
        report_anomaly(order=locked, kind=kind, actor=user)
