"""The writes of inspections: plan, start, record a finding (with its evidence and, for
a failure, its follow-up), complete, close a follow-up. Each is one transaction with its
permission check and audit event inside; bad input is a ``ValidationError`` naming the
field (400), an illegal transition a ``Conflict`` naming the state (409). Repeating a
submission that already took effect (a double click) changes nothing."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from audits.checklists import ChecklistItemSpec, all_checklist_items
from audits.inspections import evidence as evidence_files
from audits.models import (
    CHECKLIST_TEXT_MAX_LENGTH,
    INSPECTION_NOTE_MAX_LENGTH,
    INSPECTION_TITLE_MAX_LENGTH,
    EvidenceFile,
    Finding,
    FindingResult,
    FollowUp,
    FollowUpState,
    Inspection,
    InspectionItem,
    InspectionScope,
    InspectionState,
    Recurrence,
)
from audits.panels import may_supervise as is_supervisor
from audits.services import record_event
from core.errors import Conflict
from core.ids import parse_id
from tenants.actors import Actor, SystemActor, actor_label
from tenants.models import Membership, Role, Tenant, User
from tenants.roles import roles_of
from tenants.scoping import tenant_scope

#: Who may be named an inspection's inspector.
INSPECTORS: tuple[Role, ...] = (Role.SUPERVISOR, Role.PRIVACY_OFFICER)
_MONTHS = {Recurrence.MONTHLY: 1, Recurrence.QUARTERLY: 3, Recurrence.YEARLY: 12}


# --- permissions ---------------------------------------------------------------------------


def may_supervise(actor: Actor | object, tenant_id: int | None) -> bool:
    """A supervisor, privacy officer or tenant administrator of the tenant (or a job)."""
    return isinstance(actor, SystemActor) or (
        tenant_id is not None and is_supervisor(actor, tenant_id)
    )


def _require_supervisor(actor: Actor, tenant_id: int) -> None:
    if not may_supervise(actor, tenant_id):
        raise PermissionDenied(
            _("Only supervisors, privacy officers and tenant administrators handle inspections.")
        )


def may_close_follow_up(actor: Actor | object, follow_up: FollowUp) -> bool:
    return may_supervise(actor, follow_up.tenant_id) or (
        isinstance(actor, User) and actor.pk == follow_up.owner_id and bool(roles_of(actor))
    )


# --- dates ---------------------------------------------------------------------------------


def local_today(tenant: Tenant, now: datetime.datetime | None = None) -> datetime.date:
    return timezone.localtime(now or timezone.now(), tenant.zone).date()


def add_months(day: datetime.date, months: int, *, day_of_month: int = 0) -> datetime.date:
    """``day`` moved ``months`` ahead, on ``day_of_month`` (default: ``day``'s), or the
    month's last day when it is shorter."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    following = datetime.date(year + month // 12, month % 12 + 1, 1)
    last = (following - datetime.timedelta(days=1)).day
    return datetime.date(year, month, min(day_of_month or day.day, last))


def next_occurrence(
    day: datetime.date, recurrence: str, *, series_start: datetime.date | None = None
) -> datetime.date | None:
    """The occurrence after ``day`` of a series that started on ``series_start``."""
    months = _MONTHS.get(Recurrence(recurrence)) if recurrence else None
    if not months:
        return None
    return add_months(day, months, day_of_month=(series_start or day).day)


#: How far ahead an inspection or a follow-up may be planned (a recurrence computed from a
#: date near the year 9999 would overflow).
MAX_AHEAD = datetime.timedelta(days=5 * 366)


# --- checking input ------------------------------------------------------------------------


def _text(field: str, value: object, *, max_length: int, required: bool, message: str) -> str:
    text = (value if isinstance(value, str) else "").strip()
    if "\x00" in text:
        raise ValidationError({field: _("The text holds a NUL character.")})
    if required and not text:
        raise ValidationError({field: message})
    if len(text) > max_length:
        raise ValidationError(
            {field: _("At most %(max)s characters, please.") % {"max": max_length}}
        )
    return text


def _choice(field: str, value: object, choices: type[Any], message: str) -> str:
    if not isinstance(value, str) or value not in choices.values:
        raise ValidationError({field: message})
    return value


def _date(field: str, value: object, *, not_before: datetime.date, message: str) -> datetime.date:
    if isinstance(value, str):
        try:
            value = datetime.date.fromisoformat(value)
        except ValueError:
            value = None
    if not isinstance(value, datetime.date) or isinstance(value, datetime.datetime):
        raise ValidationError({field: message})
    if value < not_before:
        raise ValidationError({field: _("The date cannot be in the past.")})
    if value > not_before + MAX_AHEAD:
        raise ValidationError({field: _("The date cannot be more than five years ahead.")})
    return value


def _user_id(value: object) -> int | None:
    return parse_id(value)


def _tenant_user(tenant: Tenant, value: object, roles: Sequence[str]) -> User | None:
    user_id = _user_id(value)
    if user_id is None:
        return None
    with tenant_scope(tenant):
        held = Membership.objects.filter(user_id=user_id)
        if roles:
            held = held.filter(role__in=list(roles))
        if not held.exists():
            return None
    return User.objects.filter(pk=user_id, tenant=tenant, is_active=True).first()


def inspector_choices(tenant: Tenant) -> list[User]:
    """The tenant's active supervisors and privacy officers, by username."""
    with tenant_scope(tenant):
        ids = Membership.objects.filter(role__in=list(INSPECTORS)).values_list("user_id", flat=True)
        return list(
            User.objects.filter(pk__in=list(ids), tenant=tenant, is_active=True).order_by(
                "username"
            )
        )


def owner_choices(tenant: Tenant) -> list[User]:
    """Who may own a follow-up: the tenant's active back-office staff, by username."""
    with tenant_scope(tenant):
        ids = (
            Membership.objects.exclude(role=Role.RIDER).values_list("user_id", flat=True).distinct()
        )
        return list(
            User.objects.filter(pk__in=list(ids), tenant=tenant, is_active=True).order_by(
                "username"
            )
        )


def clean_plan(
    *,
    tenant: Tenant,
    title: object,
    scope: object,
    planned_for: object,
    inspector_id: object,
    recurrence: object,
) -> dict[str, Any]:
    """The plan's values checked, or a ``ValidationError`` naming the first bad field."""
    inspector = _tenant_user(tenant, inspector_id, INSPECTORS)
    if inspector is None:
        raise ValidationError(
            {"inspector": _("Choose a supervisor or privacy officer of this tenant.")}
        )
    return {
        "title": _text(
            "title",
            title,
            max_length=INSPECTION_TITLE_MAX_LENGTH,
            required=True,
            message=_("Give the inspection a title."),
        ),
        "scope": _choice("scope", scope, InspectionScope, _("Choose a scope from the list.")),
        "planned_for": _date(
            "planned_for",
            planned_for,
            not_before=local_today(tenant),
            message=_("Give the planned date as YYYY-MM-DD."),
        ),
        "inspector": inspector,
        "recurrence": _choice(
            "recurrence", recurrence or "", Recurrence, _("Choose a recurrence from the list.")
        ),
    }


# --- the checklist -------------------------------------------------------------------------


def checklist_for(scope: str) -> list[ChecklistItemSpec]:
    """The registered items an inspection of ``scope`` checks (a full one: all of them)."""
    items = all_checklist_items()
    if scope == InspectionScope.FULL:
        return items
    return [spec for spec in items if scope in spec.scopes]


def _snapshot(spec: ChecklistItemSpec, language: str) -> str:
    with translation.override(language):
        return str(spec.text)[:CHECKLIST_TEXT_MAX_LENGTH]


def do_plan_inspection(
    *,
    tenant: Tenant,
    actor: Actor,
    title: str,
    scope: str,
    planned_for: datetime.date,
    inspector: User | int,
    recurrence: str,
    recurs_from: Inspection | None = None,
) -> Inspection:
    """Create the inspection and its checklist. Trusts its caller: the actor's permission
    and the values are checked, the transaction is the caller's (plan_inspection, the
    daily job)."""
    series_start = (
        (recurs_from.series_start or recurs_from.planned_for) if recurs_from else planned_for
    )
    inspection = Inspection(
        tenant=tenant,
        title=title,
        scope=scope,
        planned_for=planned_for,
        recurrence=recurrence,
        next_date=next_occurrence(planned_for, recurrence, series_start=series_start),
        series_start=series_start if recurrence else None,
        recurs_from=recurs_from,
        planned_by=actor_label(actor),
    )
    if isinstance(inspector, User):
        inspection.inspector = inspector
    else:
        inspection.inspector_id = inspector
    inspection.save(force_insert=True)
    specs = checklist_for(scope)
    InspectionItem.objects.bulk_create(
        [
            InspectionItem(
                tenant=tenant,
                inspection=inspection,
                position=position,
                key=spec.key,
                clause=spec.clause,
                kind=spec.kind,
                text_en=_snapshot(spec, "en"),
                text_zh=_snapshot(spec, "zh-hans"),
            )
            for position, spec in enumerate(specs, start=1)
        ]
    )
    record_event(
        tenant=tenant,
        actor=actor,
        action="inspections.planned",
        target=inspection,
        details={
            "inspection": inspection.pk,
            "scope": scope,
            "planned_for": planned_for.isoformat(),
            "inspector": inspection.inspector_id,
            "recurrence": recurrence,
            "items": len(specs),
            "recurs_from": recurs_from.pk if recurs_from is not None else None,
        },
    )
    return inspection


# --- services ------------------------------------------------------------------------------


def plan_inspection(
    *,
    tenant: Tenant,
    actor: Actor,
    title: object,
    scope: object,
    planned_for: object,
    inspector_id: object,
    recurrence: object = "",
) -> Inspection:
    """Plan an inspection with its checklist from the registry (``inspections.planned``).
    The same plan again while the first is still planned returns the first."""
    _require_supervisor(actor, tenant.pk)
    values = clean_plan(
        tenant=tenant,
        title=title,
        scope=scope,
        planned_for=planned_for,
        inspector_id=inspector_id,
        recurrence=recurrence,
    )
    with tenant_scope(tenant), transaction.atomic():
        # Plans of one inspector take turns, so that the same plan submitted twice at once
        # (a double click) is found by the second, not planned twice.
        User.objects.select_for_update().filter(pk=values["inspector"].pk).exists()
        same = Inspection.objects.filter(
            state=InspectionState.PLANNED,
            recurs_from__isnull=True,
            title=values["title"],
            scope=values["scope"],
            planned_for=values["planned_for"],
            inspector=values["inspector"],
            recurrence=values["recurrence"],
        ).first()
        if same is not None:
            return same
        return do_plan_inspection(tenant=tenant, actor=actor, **values)


def _locked(inspection: Inspection) -> Inspection:
    return Inspection.objects.select_for_update(of=("self",)).get(pk=inspection.pk)


def _state_label(state: str) -> str:
    return str(InspectionState(state).label).lower()


def start_inspection(*, inspection: Inspection, actor: Actor) -> Inspection:
    """Planned → in progress (``inspections.started``); starting a started one again
    changes nothing; a completed one is a ``Conflict``."""
    _require_supervisor(actor, inspection.tenant_id)
    with tenant_scope(inspection.tenant_id), transaction.atomic():
        locked = _locked(inspection)
        if locked.state == InspectionState.IN_PROGRESS:
            return locked
        if locked.state != InspectionState.PLANNED:
            raise Conflict(
                _("The inspection is %(state)s: it cannot be started.")
                % {"state": _state_label(locked.state)},
                state=locked.state,
            )
        locked.state, locked.started_at = InspectionState.IN_PROGRESS, timezone.now()
        locked.save(update_fields=["state", "started_at"])
        record_event(
            tenant=locked.tenant,
            actor=actor,
            action="inspections.started",
            target=locked,
            details={"inspection": locked.pk},
        )
    return locked


def _same_submission(
    finding: Finding,
    result: str,
    note: str,
    owner: User | None,
    due: datetime.date | None,
    files: list[evidence_files.CheckedFile],
) -> bool:
    if finding.result != result or finding.note != note:
        return False
    known = set(finding.evidence.values_list("sha256", flat=True))
    if any(f.sha256 not in known for f in files):
        return False
    if result != FindingResult.FAIL:
        return True
    follow_up = finding.follow_ups.first()
    return (
        follow_up is not None
        and owner is not None
        and follow_up.owner_id == owner.pk
        and follow_up.due_on == due
    )


def record_finding(
    *,
    inspection: Inspection,
    item_id: object,
    actor: Actor,
    result: object,
    note: object = "",
    files: Sequence[bytes] = (),
    follow_up_owner_id: object = None,
    follow_up_due: object = None,
) -> Finding:
    """Record the finding of one checklist item of an inspection in progress, with its
    evidence files and, for a failure, its follow-up (``inspections.finding_recorded``).
    The same submission again (a double click) returns the finding as it is; a different
    one for an item already found is a ``Conflict``: findings are records."""
    _require_supervisor(actor, inspection.tenant_id)
    if not isinstance(actor, User):
        raise PermissionDenied(_("A finding is recorded by a person."))
    tenant = inspection.tenant
    result = _choice("result", result, FindingResult, _("Choose pass, fail or not applicable."))
    note = _text("note", note, max_length=INSPECTION_NOTE_MAX_LENGTH, required=False, message="")
    if len(files) > evidence_files.MAX_FILES:
        raise ValidationError(
            {"evidence": _("At most %(n)s files at once.") % {"n": evidence_files.MAX_FILES}}
        )
    checked = [evidence_files.check_file(data) for data in files]
    owner: User | None = None
    due: datetime.date | None = None
    if result == FindingResult.FAIL:
        owner = _tenant_user(tenant, follow_up_owner_id, ())
        if owner is None or not roles_of(owner) - {Role.RIDER.value}:
            raise ValidationError(
                {
                    "owner": _(
                        "A failed item needs a follow-up owner: a staff member of this tenant."
                    )
                }
            )
        due = _date(
            "due_on",
            follow_up_due,
            not_before=local_today(tenant),
            message=_("A failed item needs the follow-up's due date (YYYY-MM-DD)."),
        )
    item_pk = _user_id(item_id)
    with tenant_scope(tenant):
        item = (
            InspectionItem.objects.filter(pk=item_pk, inspection_id=inspection.pk).first()
            if item_pk is not None
            else None
        )
    if item is None:
        raise ValidationError({"item": _("No such item on this inspection's checklist.")})
    created = [c.sha256 for c in checked if evidence_files.write_file(tenant.pk, c)]
    try:
        with tenant_scope(tenant), transaction.atomic():
            return _record(inspection, item, actor, result, note, checked, owner, due)
    except BaseException:
        for sha256 in created:
            evidence_files.remove_file(tenant.pk, sha256)
        raise


def _record(
    inspection: Inspection,
    item: InspectionItem,
    actor: User,
    result: str,
    note: str,
    checked: list[evidence_files.CheckedFile],
    owner: User | None,
    due: datetime.date | None,
) -> Finding:
    locked = _locked(inspection)
    if locked.state != InspectionState.IN_PROGRESS:
        raise Conflict(
            _("The inspection is %(state)s: findings are recorded while it is in progress.")
            % {"state": _state_label(locked.state)},
            state=locked.state,
        )
    existing = Finding.objects.filter(item_id=item.pk).first()
    if existing is not None:
        if _same_submission(existing, result, note, owner, due, checked):
            return existing
        raise Conflict(
            _("A finding is already recorded for §%(clause)s: it cannot be changed.")
            % {"clause": item.clause},
            state="recorded",
        )
    now = timezone.now()
    finding = Finding(
        tenant=locked.tenant,
        item=item,
        result=result,
        note=note,
        recorded_by=actor,
        recorded_at=now,
    )
    finding.save(force_insert=True)
    unique = {c.sha256: c for c in checked}
    EvidenceFile.objects.bulk_create(
        [
            EvidenceFile(
                tenant=locked.tenant,
                finding=finding,
                sha256=c.sha256,
                size=c.size,
                content_type=c.content_type,
                uploaded_by=actor,
                uploaded_at=now,
            )
            for c in unique.values()
        ]
    )
    follow_up = None
    if result == FindingResult.FAIL and owner is not None and due is not None:
        follow_up = FollowUp(tenant=locked.tenant, finding=finding, owner=owner, due_on=due)
        follow_up.save(force_insert=True)
    record_event(
        tenant=locked.tenant,
        actor=actor,
        action="inspections.finding_recorded",
        target=finding,
        details={
            "inspection": locked.pk,
            "item": item.key,
            "clause": item.clause,
            "result": result,
            "evidence": sorted(unique),
            "follow_up": follow_up.pk if follow_up is not None else None,
            "owner": owner.pk if owner is not None else None,
            "due_on": due.isoformat() if due is not None else None,
        },
    )
    return finding


def complete_inspection(*, inspection: Inspection, actor: Actor) -> Inspection:
    """In progress → completed (``inspections.completed``), once every item has a
    finding; completing a completed one again changes nothing."""
    _require_supervisor(actor, inspection.tenant_id)
    with tenant_scope(inspection.tenant_id), transaction.atomic():
        locked = _locked(inspection)
        if locked.state == InspectionState.COMPLETED:
            return locked
        if locked.state != InspectionState.IN_PROGRESS:
            raise Conflict(
                _("The inspection is %(state)s: start it and record its findings first.")
                % {"state": _state_label(locked.state)},
                state=locked.state,
            )
        items = InspectionItem.objects.filter(inspection_id=locked.pk)
        missing = items.filter(findings__isnull=True).count()
        if missing:
            raise Conflict(
                ngettext(
                    "%(n)d item has no finding yet: record it before completing.",
                    "%(n)d items have no finding yet: record them before completing.",
                    missing,
                )
                % {"n": missing},
                state=locked.state,
                missing=missing,
            )
        findings = Finding.objects.filter(item__inspection_id=locked.pk)
        failed = findings.filter(result=FindingResult.FAIL).count()
        locked.state, locked.completed_at = InspectionState.COMPLETED, timezone.now()
        locked.save(update_fields=["state", "completed_at"])
        record_event(
            tenant=locked.tenant,
            actor=actor,
            action="inspections.completed",
            target=locked,
            details={"inspection": locked.pk, "findings": findings.count(), "failed": failed},
        )
    return locked


def close_follow_up(*, follow_up: FollowUp, actor: Actor, note: object) -> FollowUp:
    """Open → done with a note, by its owner or a supervisor
    (``inspections.follow_up_closed``); the same note again on a closed one changes
    nothing."""
    if not may_close_follow_up(actor, follow_up):
        raise PermissionDenied(_("Only the follow-up's owner or a supervisor closes it."))
    text = _text(
        "note",
        note,
        max_length=INSPECTION_NOTE_MAX_LENGTH,
        required=True,
        message=_("Say what was done to close the follow-up."),
    )
    with tenant_scope(follow_up.tenant_id), transaction.atomic():
        locked = FollowUp.objects.select_for_update(of=("self",)).get(pk=follow_up.pk)
        if locked.state == FollowUpState.DONE:
            if locked.done_note == text:
                return locked
            raise Conflict(_("The follow-up is done: it cannot be closed again."), state="done")
        locked.state, locked.done_note = FollowUpState.DONE, text
        locked.done_at = timezone.now()
        locked.done_by = actor if isinstance(actor, User) else None
        locked.save(update_fields=["state", "done_note", "done_at", "done_by"])
        finding = Finding.objects.select_related("item").get(pk=locked.finding_id)
        record_event(
            tenant=locked.tenant,
            actor=actor,
            action="inspections.follow_up_closed",
            target=locked,
            details={
                "follow_up": locked.pk,
                "inspection": finding.item.inspection_id,
                "clause": finding.item.clause,
                "overdue": locked.due_on < local_today(locked.tenant),
            },
        )
    return locked
