"""Violations' writes (issue 20, point 4): one function per use case, keyword-only, a
required ``actor``, one transaction under the violation's row lock, the permission check
and the audit event (``violations.*``) inside; the person's notification is written in the
same transaction (its external delivery is queued after the commit by
``tenants.notifications``).

Who may: the tenant's supervisors (``audits.panels.SUPERVISORS``) record, link evidence,
decide, close and withdraw; only a tenant administrator decides a dismissal; the person
answers; nobody acts on a violation about themselves (a ``Conflict``). Bad input is a
``ValidationError`` naming the field, an illegal move a ``Conflict`` naming the state."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import cast

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.models import (
    VIOLATION_SHORT_TEXT_MAX_LENGTH,
    VIOLATION_TEXT_MAX_LENGTH,
    Sanction,
    SanctionKind,
    Violation,
    ViolationAnswer,
    ViolationClause,
    ViolationEvidence,
    ViolationSeverity,
    ViolationState,
)
from audits.panels import may_supervise as is_supervisor
from audits.services import record_event
from audits.violations import notices
from audits.violations.evidence import resolve_evidence
from core.errors import Conflict
from core.ids import parse_id
from tenants.actors import Actor, SystemActor, actor_label
from tenants.models import Role, SuspensionScope, Tenant, User, UserSuspension
from tenants.roles import has_role
from tenants.scoping import tenant_scope
from tenants.services import do_deactivate_user
from tenants.suspensions import lift, suspend

MAX_AMOUNT = Decimal("1000000.00")
MAX_SUSPENSION_DAYS = 5 * 366
INCIDENT_CASE = "incident_case"  # the evidence kind incidents registers


def source_of(violation: Violation) -> str:
    """The suspensions' ``source`` a violation's sanctions write (tenants.suspensions)."""
    return f"violation:{violation.pk}"


# --- who may --------------------------------------------------------------------------


def may_supervise(user: object, tenant: Tenant) -> bool:
    return is_supervisor(user, tenant)


def _require_supervisor(actor: Actor, tenant: Tenant) -> None:
    if isinstance(actor, SystemActor):
        return
    if not may_supervise(actor, tenant):
        raise PermissionDenied(
            _("Only supervisors, privacy officers and tenant administrators handle violations.")
        )


def _not_about_oneself(actor: Actor, person_id: int) -> None:
    if isinstance(actor, User) and actor.pk == person_id:
        raise Conflict(_("Nobody records or decides a violation about themselves."))


# --- input checks ----------------------------------------------------------------------


def _text(name: str, value: object, *, limit: int, required: bool, lines: bool) -> str:
    if not isinstance(value, str):
        raise ValidationError({name: _("Must be text.")})
    text = unicodedata.normalize("NFC", value).replace("\r\n", "\n").strip()
    allowed = {"\n", "\t"} if lines else set()
    if any(unicodedata.category(c) == "Cc" and c not in allowed for c in text):
        raise ValidationError({name: _("Must not contain control characters.")})
    if required and not text:
        raise ValidationError({name: _("This field is required.")})
    if len(text) > limit:
        raise ValidationError({name: _("At most %(limit)d characters.") % {"limit": limit}})
    return text


def _choice(name: str, value: object, choices: type) -> str:
    if not isinstance(value, str) or value not in choices.values:  # type: ignore[attr-defined]
        raise ValidationError({name: _("Choose one of the options.")})
    return value


def _date(name: str, value: object) -> date:
    if isinstance(value, datetime):
        raise ValidationError({name: _("Give a date.")})
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValidationError({name: _("Give a date.")})


def _amount(name: str, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise ValidationError({name: _("Give an amount in CNY.")})
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationError({name: _("Give an amount in CNY.")}) from None
    if not amount.is_finite():
        raise ValidationError({name: _("Give an amount in CNY.")})
    if amount <= 0:
        raise ValidationError({name: _("Must be more than 0.")})
    if amount > MAX_AMOUNT:
        raise ValidationError({name: _("At most 1,000,000 CNY.")})
    if amount != amount.quantize(Decimal("0.01")):
        raise ValidationError({name: _("At most two decimal places.")})
    return amount.quantize(Decimal("0.01"))


def _today(tenant: Tenant) -> date:
    return timezone.localtime(timezone.now(), tenant.zone).date()


def _id(value: object) -> int | None:
    return parse_id(value)


def _lock(violation: Violation) -> Violation:
    locked = (
        Violation.objects.select_for_update(of=("self",))
        .select_related("person")
        .filter(pk=violation.pk)
        .first()
    )
    if locked is None:
        raise Http404(_("No such violation."))
    return locked


def _state_label(violation: Violation) -> str:
    return str(ViolationState(violation.state).label)


# --- record ----------------------------------------------------------------------------


def record_violation(
    *,
    tenant: Tenant,
    person_id: object,
    clause: object,
    description: object,
    severity: object,
    occurred_on: object,
    actor: Actor,
    evidence: Sequence[tuple[object, object]] = (),
) -> Violation:
    """Record a violation of ``clause`` by the person ``person_id`` (a user of ``tenant``,
    staff or rider), with optional evidence links ``(kind, object id)``. The person is told
    (staff: a back-office notification; riders: their home page)."""
    _require_supervisor(actor, tenant)
    errors: dict[str, list[str]] = {}
    values: dict[str, object] = {}
    checks = (
        ("clause", lambda: _choice("clause", clause, ViolationClause)),
        ("severity", lambda: _choice("severity", severity, ViolationSeverity)),
        (
            "description",
            lambda: _text(
                "description",
                description,
                limit=VIOLATION_TEXT_MAX_LENGTH,
                required=True,
                lines=True,
            ),
        ),
        ("occurred_on", lambda: _date("occurred_on", occurred_on)),
    )
    for name, check in checks:
        try:
            values[name] = check()
        except ValidationError as error:
            errors.update(error.message_dict)
    when = values.get("occurred_on")
    if isinstance(when, date) and when > _today(tenant):
        errors["occurred_on"] = [_("Must not be in the future.")]
    number = _id(person_id)
    with tenant_scope(tenant):
        person = (
            User.objects.filter(pk=number, tenant_id=tenant.pk, is_superuser=False).first()
            if number is not None
            else None
        )
        if person is None:
            errors["person"] = [_("Choose a person of your tenant.")]
        targets = []
        for index, (kind, object_id) in enumerate(evidence):
            name = "evidence" if index == 0 else f"evidence_{index + 1}"
            try:
                targets.append(resolve_evidence(tenant, kind, object_id, field=name))
            except ValidationError as error:
                errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    assert person is not None  # noqa: S101 - checked above
    _not_about_oneself(actor, person.pk)
    now = timezone.now()
    with transaction.atomic(), tenant_scope(tenant):
        violation = Violation(
            tenant=tenant,
            person=person,
            clause=cast(str, values["clause"]),
            description=cast(str, values["description"]),
            severity=cast(str, values["severity"]),
            occurred_on=cast(date, values["occurred_on"]),
            recorded_by=actor_label(actor),
            recorded_at=now,
        )
        violation.save(force_insert=True)
        record_event(
            tenant=tenant,
            actor=actor,
            action="violations.recorded",
            target=violation,
            details={
                "violation": violation.pk,
                "person": f"user:{person.pk}",
                "clause": violation.clause,
                "severity": violation.severity,
            },
        )
        for (kind, object_id), target in zip(evidence, targets, strict=True):
            _link(violation, str(kind), str(object_id).strip(), target.label, actor, now)
        notices.tell_recorded(violation)
    return violation


# --- evidence --------------------------------------------------------------------------


def _link(
    violation: Violation, kind: str, object_id: str, label: str, actor: Actor, now: datetime
) -> ViolationEvidence:
    object_id = object_id.lstrip("#") if kind == "audit_event" else object_id
    if ViolationEvidence.objects.filter(
        violation=violation, kind=kind, object_id=object_id
    ).exists():
        raise Conflict(_("This evidence is already linked to the violation."))
    row = ViolationEvidence(
        tenant=violation.tenant,
        violation=violation,
        kind=kind,
        object_id=object_id,
        label=label[:VIOLATION_SHORT_TEXT_MAX_LENGTH],
        added_by=actor_label(actor),
        added_at=now,
    )
    row.save(force_insert=True)
    record_event(
        tenant=violation.tenant,
        actor=actor,
        action="violations.evidence_added",
        target=violation,
        details={"violation": violation.pk, "kind": kind, "object": object_id},
    )
    return row


def add_evidence(
    *, violation: Violation, kind: object, object_id: object, actor: Actor
) -> ViolationEvidence:
    """Link evidence of a registered kind, found in the violation's tenant (else a 400
    naming ``object_id``), once. A closed or withdrawn violation takes none (409)."""
    tenant = violation.tenant
    _require_supervisor(actor, tenant)
    with tenant_scope(tenant):
        target = resolve_evidence(tenant, kind, object_id)
    with transaction.atomic(), tenant_scope(tenant):
        locked = _lock(violation)
        if locked.state in (ViolationState.CLOSED, ViolationState.WITHDRAWN):
            raise Conflict(
                _("The violation is “%(state)s”: it takes no more evidence.")
                % {"state": _state_label(locked)}
            )
        return _link(locked, str(kind), str(object_id).strip(), target.label, actor, timezone.now())


# --- the decision ----------------------------------------------------------------------


@dataclass(frozen=True)
class Referral:
    authority: object
    reference: object = ""
    referred_on: object = None


@dataclass(frozen=True)
class Compensation:
    amount: object
    reason: object
    case: object = ""  # an incident case (the evidence kind ``incident_case``), optional


@dataclass(frozen=True)
class Decision:
    """The sanctions decided at once (§6.3.1) and any compensation owed (§6.3.2)."""

    warning: bool = False
    fine: object = None  # amount in CNY
    suspend_reveal_until: object = None  # a local date, the last day of the suspension
    suspend_dispatch_until: object = None
    dismissal: bool = False
    referral: Referral | None = None
    compensation: Compensation | None = None
    kinds: list[str] = field(default_factory=list)  # filled by _clean_decision


def _ends_at(tenant: Tenant, name: str, value: object) -> tuple[date, datetime]:
    last = _date(name, value)
    today = _today(tenant)
    if last < today:
        raise ValidationError({name: _("Must be today or later.")})
    if last > today + timedelta(days=MAX_SUSPENSION_DAYS):
        raise ValidationError({name: _("At most five years from today.")})
    # The whole last day is included: the suspension ends at the next local midnight.
    return last, datetime.combine(last + timedelta(days=1), time(0), tzinfo=tenant.zone)


def _clean_decision(tenant: Tenant, person: User, decision: Decision) -> dict[str, object]:
    errors: dict[str, list[str]] = {}
    out: dict[str, object] = {}

    def attempt(name: str, check: object) -> None:
        try:
            out[name] = check()  # type: ignore[operator]
        except ValidationError as error:
            errors.update(error.message_dict)

    if decision.fine is not None and decision.fine != "":
        attempt("fine", lambda: _amount("fine", decision.fine))
    for name, value in (
        ("suspend_reveal_until", decision.suspend_reveal_until),
        ("suspend_dispatch_until", decision.suspend_dispatch_until),
    ):
        if value is not None and value != "":
            attempt(name, lambda name=name, value=value: _ends_at(tenant, name, value))
    if "suspend_dispatch_until" in out and not has_role(person, Role.RIDER):
        errors["suspend_dispatch_until"] = [_("Only a rider can be suspended from dispatch.")]
    if decision.referral is not None:
        ref = decision.referral
        attempt(
            "authority",
            lambda: _text("authority", ref.authority, limit=100, required=True, lines=False),
        )
        attempt(
            "reference",
            lambda: _text("reference", ref.reference or "", limit=64, required=False, lines=False),
        )
        attempt("referred_on", lambda: _date("referred_on", ref.referred_on))
        referred = out.get("referred_on")
        if isinstance(referred, date) and referred > _today(tenant):
            errors["referred_on"] = [_("Must not be in the future.")]
    if decision.compensation is not None:
        comp = decision.compensation
        attempt("compensation", lambda: _amount("compensation", comp.amount))
        attempt(
            "compensation_reason",
            lambda: _text(
                "compensation_reason",
                comp.reason,
                limit=VIOLATION_SHORT_TEXT_MAX_LENGTH,
                required=True,
                lines=False,
            ),
        )
        if isinstance(comp.case, str) and comp.case.strip():
            attempt(
                "compensation_case",
                lambda: resolve_evidence(
                    tenant, INCIDENT_CASE, comp.case, field="compensation_case"
                ),
            )
    chosen = [
        kind
        for kind, on in (
            (SanctionKind.WARNING, decision.warning),
            (SanctionKind.FINE, "fine" in out),
            (SanctionKind.SUSPEND_REVEAL, "suspend_reveal_until" in out),
            (SanctionKind.SUSPEND_DISPATCH, "suspend_dispatch_until" in out),
            (SanctionKind.DISMISSAL, decision.dismissal),
            (SanctionKind.REFERRAL, decision.referral is not None),
        )
        if on
    ]
    if not chosen and not errors:
        errors["sanctions"] = [_("Choose at least one sanction.")]
    if errors:
        raise ValidationError(errors)
    out["kinds"] = chosen
    return out


def decide_sanction(*, violation: Violation, decision: Decision, actor: Actor) -> list[Sanction]:
    """Decide the sanction(s) of a recorded violation: a warning, a fine (CNY, > 0), a
    suspension from reveal or from dispatch until a date (``tenants.suspensions``, enforced
    by the reveal and dispatch gates), dismissal (tenant administrators only: the user is
    deactivated and their sessions end), a referral to the authorities; and compensation
    owed by the person. The person is told. Only once: a violation not ``recorded`` is a
    ``Conflict`` naming its state."""
    tenant = violation.tenant
    _require_supervisor(actor, tenant)
    _not_about_oneself(actor, violation.person_id)
    with tenant_scope(tenant):
        person = User.objects.get(pk=violation.person_id)
        values = _clean_decision(tenant, person, decision)
    kinds = values["kinds"]
    assert isinstance(kinds, list)  # noqa: S101
    if SanctionKind.DISMISSAL in kinds and not (
        isinstance(actor, SystemActor) or has_role(actor, Role.TENANT_ADMIN)
    ):
        raise PermissionDenied(_("Only a tenant administrator may decide a dismissal."))
    now = timezone.now()
    with transaction.atomic(), tenant_scope(tenant):
        locked = _lock(violation)
        if locked.state != ViolationState.RECORDED:
            raise Conflict(
                _(
                    "The violation is “%(state)s”: a sanction is decided only once, on a recorded violation."
                )
                % {"state": _state_label(locked)}
            )
        person = locked.person
        made: list[Sanction] = []
        suspensions: list[int] = []
        reason = _("Sanction for violation %(number)s (§%(clause)s)") % {
            "number": locked.number,
            "clause": locked.clause,
        }
        for kind in kinds:
            sanction = Sanction(
                tenant=tenant,
                violation=locked,
                kind=kind,
                decided_by=actor_label(actor),
                decided_at=now,
            )
            if kind == SanctionKind.FINE:
                sanction.amount = values["fine"]  # type: ignore[assignment]
            elif kind in (SanctionKind.SUSPEND_REVEAL, SanctionKind.SUSPEND_DISPATCH):
                name = (
                    "suspend_reveal_until"
                    if kind == SanctionKind.SUSPEND_REVEAL
                    else "suspend_dispatch_until"
                )
                last, ends_at = cast(tuple[date, datetime], values[name])
                scope = (
                    SuspensionScope.REVEAL
                    if kind == SanctionKind.SUSPEND_REVEAL
                    else SuspensionScope.DISPATCH
                )
                held = suspend(
                    tenant=tenant,
                    user=person,
                    scope=scope,
                    reason=reason,
                    source=source_of(locked),
                    actor=actor,
                    ends_at=ends_at,
                )
                sanction.suspension = held
                sanction.ends_on = last
                suspensions.append(held.pk)
            elif kind == SanctionKind.DISMISSAL:
                if not person.is_active:
                    raise Conflict(
                        _("%(user)s is already deactivated.") % {"user": person.username}
                    )
                do_deactivate_user(user=person, actor=actor)
            elif kind == SanctionKind.REFERRAL:
                sanction.authority = values["authority"]  # type: ignore[assignment]
                sanction.reference = values["reference"]  # type: ignore[assignment]
                sanction.referred_on = values["referred_on"]  # type: ignore[assignment]
            sanction.save(force_insert=True)
            made.append(sanction)
        fields = ["state", "decided_by", "decided_at"]
        if "compensation" in values:
            locked.compensation_amount = values["compensation"]  # type: ignore[assignment]
            locked.compensation_reason = values["compensation_reason"]  # type: ignore[assignment]
            case = values.get("compensation_case")
            if case is not None:
                assert decision.compensation is not None  # noqa: S101
                locked.compensation_case = str(decision.compensation.case).strip()
                locked.compensation_case_label = case.label[:VIOLATION_SHORT_TEXT_MAX_LENGTH]  # type: ignore[attr-defined]
            fields += [
                "compensation_amount",
                "compensation_reason",
                "compensation_case",
                "compensation_case_label",
            ]
        locked.state = ViolationState.DECIDED
        locked.decided_by = actor_label(actor)
        locked.decided_at = now
        locked.save(update_fields=fields)
        record_event(
            tenant=tenant,
            actor=actor,
            action="violations.sanction_decided",
            target=locked,
            details={
                "violation": locked.pk,
                "person": f"user:{person.pk}",
                "sanctions": [str(k) for k in kinds],
                "fine": str(values["fine"]) if "fine" in values else None,
                "suspensions": suspensions,
                "compensation": str(values["compensation"]) if "compensation" in values else None,
                "case": locked.compensation_case or None,
            },
        )
        notices.tell_decided(locked)
    violation.state = locked.state
    return made


# --- the person's answer ---------------------------------------------------------------


def answer_violation(*, violation: Violation, text: object, actor: Actor) -> ViolationAnswer:
    """The person answers, once per stage: while the violation is recorded (before the
    decision) and once a sanction is decided (the violation is then "answered"). A second
    answer at the same stage, or an answer to a closed or withdrawn violation, is a
    ``Conflict``. Only the person answers."""
    if not isinstance(actor, User) or actor.pk != violation.person_id:
        raise PermissionDenied(_("Only the person the violation is about can answer it."))
    cleaned = _text("text", text, limit=VIOLATION_TEXT_MAX_LENGTH, required=True, lines=True)
    tenant = violation.tenant
    with transaction.atomic(), tenant_scope(tenant):
        locked = _lock(violation)
        if locked.state not in (ViolationState.RECORDED, ViolationState.DECIDED):
            if locked.state == ViolationState.ANSWERED:
                raise Conflict(_("You have already answered this decision."))
            raise Conflict(
                _("The violation is “%(state)s”: it takes no more answers.")
                % {"state": _state_label(locked)}
            )
        stage = locked.state
        if ViolationAnswer.objects.filter(violation=locked, stage=stage).exists():
            raise Conflict(_("You have already answered at this stage."))
        answer = ViolationAnswer(
            tenant=tenant, violation=locked, stage=stage, text=cleaned, answered_at=timezone.now()
        )
        try:
            with transaction.atomic():
                answer.save(force_insert=True)
        except IntegrityError:  # a concurrent double submit that passed the check
            raise Conflict(_("You have already answered at this stage.")) from None
        if stage == ViolationState.DECIDED:
            locked.state = ViolationState.ANSWERED
            locked.save(update_fields=["state"])
        record_event(
            tenant=tenant,
            actor=actor,
            action="violations.answered",
            target=locked,
            details={"violation": locked.pk, "stage": stage},
        )
    violation.state = locked.state
    return answer


# --- closing and withdrawal ------------------------------------------------------------


def close_violation(*, violation: Violation, actor: Actor) -> Violation:
    """Close a violation whose sanction is decided (answered or not)."""
    tenant = violation.tenant
    _require_supervisor(actor, tenant)
    _not_about_oneself(actor, violation.person_id)
    with transaction.atomic(), tenant_scope(tenant):
        locked = _lock(violation)
        if locked.state not in (ViolationState.DECIDED, ViolationState.ANSWERED):
            raise Conflict(
                _("The violation is “%(state)s”: only one with a decided sanction can be closed.")
                % {"state": _state_label(locked)}
            )
        before = locked.state
        locked.state = ViolationState.CLOSED
        locked.closed_by = actor_label(actor)
        locked.closed_at = timezone.now()
        locked.save(update_fields=["state", "closed_by", "closed_at"])
        record_event(
            tenant=tenant,
            actor=actor,
            action="violations.closed",
            target=locked,
            details={"violation": locked.pk, "from": before},
        )
    return locked


def withdraw_violation(*, violation: Violation, reason: object, actor: Actor) -> Violation:
    """Withdraw a violation still open (recorded, decided or answered) with a reason: the
    suspensions its sanction imposed and still in force are lifted (a dismissal is not
    undone here: reactivating a user is the tenant administrator's, in the user's page).
    The person is told."""
    tenant = violation.tenant
    _require_supervisor(actor, tenant)
    _not_about_oneself(actor, violation.person_id)
    text = _text(
        "reason", reason, limit=VIOLATION_SHORT_TEXT_MAX_LENGTH, required=True, lines=False
    )
    with transaction.atomic(), tenant_scope(tenant):
        locked = _lock(violation)
        if locked.state in (ViolationState.CLOSED, ViolationState.WITHDRAWN):
            raise Conflict(
                _("The violation is “%(state)s”: it can no longer be withdrawn.")
                % {"state": _state_label(locked)}
            )
        if (
            locked.decided_by
            and locked.decided_by != actor_label(actor)
            and not has_role(actor, Role.TENANT_ADMIN)
        ):
            # A sanction stands unless the one who decided it, or a tenant administrator,
            # takes it back: a supervisor does not undo another's decision alone.
            raise PermissionDenied(
                _(
                    "Only the person who decided the sanction or a tenant administrator "
                    "may withdraw a decided violation."
                )
            )
        before = locked.state
        now = timezone.now()
        lifted = []
        for held in UserSuspension.objects.filter(source=source_of(locked)).order_by("pk"):
            if held.is_active_at(now):
                lift(tenant=tenant, suspension_id=held.pk, actor=actor)
                lifted.append(held.pk)
        locked.state = ViolationState.WITHDRAWN
        locked.withdrawn_reason = text
        locked.closed_by = actor_label(actor)
        locked.closed_at = now
        locked.save(update_fields=["state", "withdrawn_reason", "closed_by", "closed_at"])
        record_event(
            tenant=tenant,
            actor=actor,
            action="violations.withdrawn",
            target=locked,
            details={"violation": locked.pk, "from": before, "lifted": lifted},
        )
        notices.tell_withdrawn(locked)
    return locked
