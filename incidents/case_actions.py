"""More of a case's actions (issue 18): lifting a suspension a case imposed, regrading a
case, rotating the tenant's data key from a case (a background job with progress), and
promoting a customer's privacy report to a case.

As in incidents.cases: only case managers (``PermissionDenied``), the case's row lock, one
transaction with the timeline row and the audit event (ids, codes and counts only), another
tenant's object a 404, a closed case a ``Conflict``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.alert_rules import rule_label
from audits.alerts import PromotedCase
from audits.models import AccessAlert
from audits.services import record_event
from core.errors import Conflict
from incidents import clocks
from incidents.cases import _lock, _require_manager, _text, clean_case, open_case
from incidents.models import (
    CASE_TEXT_MAX_LENGTH,
    CaseEvent,
    CaseEventKind,
    CaseKind,
    CaseReport,
    CaseReportKind,
    CaseSeverity,
    CaseState,
    IncidentCase,
    PrivacyReport,
    ReportKind,
)
from privacy.api import RotationProgress, rotation_progress, start_rotation_job
from tenants.actors import Actor, SystemActor, actor_label
from tenants.models import Role, Tenant, User, UserSuspension
from tenants.roles import has_role
from tenants.scoping import tenant_scope
from tenants.suspensions import lift, suspensions_from

# --- Suspensions a case imposed ----------------------------------------------------------


def case_suspensions(case: IncidentCase) -> list[UserSuspension]:
    """The suspensions the case imposed (source: its code), newest first."""
    return suspensions_from(case.tenant, case.code)


def lift_suspension(*, case: IncidentCase, suspension_id: int, actor: Actor) -> UserSuspension:
    """Lift a suspension the case imposed (any other is a 404), recorded on the timeline
    and audited (``incidents.suspension_lifted``). Allowed on a closed case too: lifting
    only gives back."""
    _require_manager(actor, case.tenant_id)
    with transaction.atomic(), tenant_scope(case.tenant):
        locked = _lock(case)
        if not UserSuspension.objects.filter(pk=suspension_id, source=locked.code).exists():
            raise Http404(_("No such suspension."))
        suspension = lift(tenant=locked.tenant, suspension_id=suspension_id, actor=actor)
        target = f"user:{suspension.user_id}"
        CaseEvent(
            tenant=locked.tenant,
            case=locked,
            kind=CaseEventKind.LIFTED,
            target=target,
            actor=actor_label(actor),
        ).save(force_insert=True)
        record_event(
            tenant=locked.tenant,
            actor=actor,
            action="incidents.suspension_lifted",
            target=locked,
            details={
                "case": locked.pk,
                "suspension": suspension.pk,
                "target": target,
                "drill": locked.is_drill,
            },
        )
    return suspension


# --- Regrading ---------------------------------------------------------------------------

REGRADE_FIELDS = ("severity", "kind", "data_categories", "affected_customers", "discovered_at")


def regrade_case(
    *,
    case: IncidentCase,
    severity: object,
    severity_reason: object,
    kind: object,
    data_categories: Iterable[object],
    affected_customers: object,
    discovered_at: object,
    actor: Actor,
) -> IncidentCase:
    """Change the case's grade and assessment — severity (with a new reason, required),
    kind, affected data, affected customers, time of discovery — under its row lock; not on
    a closed case (``Conflict``). The clocks follow (``clocks.regrade_clocks``). On the
    timeline (``regraded``: ``target`` holds ``<from>><to>`` severities) and audited
    (``incidents.case_regraded``: the severities, the names of the fields changed, and
    the time of discovery and the authority report's due time before and after — on the
    timeline's ``times`` too). Moving the time of discovery later, or withdrawing an
    unmade authority report by a downgrade, is for a privacy officer only
    (``PermissionDenied``)."""
    _require_manager(actor, case.tenant_id)
    with tenant_scope(case.tenant):
        current = IncidentCase.objects.get(pk=case.pk)
    values = clean_case(
        title=current.title,
        severity=severity,
        severity_reason=severity_reason,
        kind=kind,
        data_categories=data_categories,
        affected_customers=affected_customers,
        discovered_at=discovered_at,
        discovered_by=current.discovered_by,
    )
    with transaction.atomic(), tenant_scope(case.tenant):
        locked = _lock(case)
        if locked.state == CaseState.CLOSED:
            raise Conflict(_("The case is closed: reopen it before regrading it."))
        before = {field: getattr(locked, field) for field in REGRADE_FIELDS}
        # The page's field shows minutes: the same minute is the same time of discovery.
        if values["discovered_at"] == locked.discovered_at.replace(second=0, microsecond=0):
            values["discovered_at"] = locked.discovered_at
        changed = [field for field in REGRADE_FIELDS if values[field] != before[field]]
        if not changed and values["severity_reason"] == locked.severity_reason:
            raise Conflict(_("Nothing changed."))
        _check_regrade_allowed(locked, values, actor)
        for field in (*REGRADE_FIELDS, "severity_reason"):
            setattr(locked, field, values[field])
        locked.save(update_fields=[*REGRADE_FIELDS, "severity_reason"])
        due_before, due_after = clocks.regrade_clocks(
            locked, discovery_moved="discovered_at" in changed
        )
        times = {
            "discovered_at": [_iso(before["discovered_at"]), _iso(locked.discovered_at)],
            "due_at": [_iso(due_before), _iso(due_after)],
        }
        CaseEvent(
            tenant=locked.tenant,
            case=locked,
            kind=CaseEventKind.REGRADED,
            target=f"{before['severity']}>{locked.severity}",
            actor=actor_label(actor),
            note=str(locked.severity_reason),
            times=times,
        ).save(force_insert=True)
        record_event(
            tenant=locked.tenant,
            actor=actor,
            action="incidents.case_regraded",
            target=locked,
            details={
                "case": locked.pk,
                "from_severity": str(before["severity"]),
                "to_severity": str(locked.severity),
                "fields": changed,
                "discovered_at": times["discovered_at"],
                "due_at": times["due_at"],
                "drill": locked.is_drill,
            },
        )
    return locked


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _check_regrade_allowed(case: IncidentCase, values: dict[str, Any], actor: Actor) -> None:
    """Moving the time of discovery later (it delays the legal clock), or a downgrade that
    withdraws an authority report not yet made, is for a privacy officer only."""
    if has_role(actor, Role.PRIVACY_OFFICER):
        return
    later = values["discovered_at"] > case.discovered_at
    withdraws = (
        case.severity in clocks.REPORTABLE_SEVERITIES
        and values["severity"] not in clocks.REPORTABLE_SEVERITIES
        and CaseReport.objects.filter(
            case=case,
            kind=CaseReportKind.AUTHORITY_INITIAL,
            made_at__isnull=True,
            withdrawn_at__isnull=True,
        ).exists()
    )
    if later or withdraws:
        raise PermissionDenied(
            _(
                "Only a privacy officer may move the time of discovery later or withdraw an "
                "authority report that is not made yet."
            )
        )


# --- Rotating the tenant's data key from a case -------------------------------------------

ROTATION_ACTOR = SystemActor("tenant-key-rotation")


def start_key_rotation(
    *, case: IncidentCase, reason: str, actor: Actor, queue: str | None = None
) -> int:
    """Rotate the tenant's data key as a containment action: a new key version, a job that
    rewraps every subject key under it in batches (ids only), then retires the old one. A
    rotation still under way is a ``Conflict`` naming its version. The start is on the
    timeline (``rotation_started``, ``count`` the new version) and audited
    (``incidents.key_rotation_started``); the end is recorded by ``rotation_finished``.
    Not on a closed case. Returns the new version."""
    _require_manager(actor, case.tenant_id)
    text = _text("reason", reason, limit=CASE_TEXT_MAX_LENGTH, required=True)
    with transaction.atomic(), tenant_scope(case.tenant):
        locked = _lock(case)
        if locked.state == CaseState.CLOSED:
            raise Conflict(_("The case is closed: reopen it before taking an action."))
        version = start_rotation_job(tenant=locked.tenant, actor=actor, queue=queue)
        CaseEvent(
            tenant=locked.tenant,
            case=locked,
            kind=CaseEventKind.ROTATION_STARTED,
            count=version,
            actor=actor_label(actor),
            note=text,
        ).save(force_insert=True)
        record_event(
            tenant=locked.tenant,
            actor=actor,
            action="incidents.key_rotation_started",
            target=locked,
            details={"case": locked.pk, "version": version, "drill": locked.is_drill},
        )
    return version


def key_rotation_progress(case: IncidentCase) -> RotationProgress | None:
    """The progress of the last rotation this case started, or None when it started none."""
    with tenant_scope(case.tenant):
        started = (
            CaseEvent.objects.filter(case=case, kind=CaseEventKind.ROTATION_STARTED)
            .order_by("-at", "-pk")
            .first()
        )
    if started is None:
        return None
    progress = rotation_progress(case.tenant)
    if progress.version != started.count:  # a later rotation (another case, the command)
        return RotationProgress(started.count or 0, 0, 0, True)
    return progress


def rotation_finished(sender: Any, *, tenant: Tenant, version: int, **kwargs: Any) -> None:
    """``privacy.api.tenant_key_rotated`` receiver: the cases that started the rotation to
    ``version`` get ``rotation_done`` on their timeline, once each (the case's row lock)."""
    with tenant_scope(tenant):
        case_ids = list(
            CaseEvent.objects.filter(kind=CaseEventKind.ROTATION_STARTED, count=version)
            .values_list("case_id", flat=True)
            .distinct()
        )
        for case_id in case_ids:
            with transaction.atomic():
                case = IncidentCase.objects.select_for_update().get(pk=case_id)
                done = CaseEvent.objects.filter(
                    case=case, kind=CaseEventKind.ROTATION_DONE, count=version
                )
                if done.exists():
                    continue
                CaseEvent(
                    tenant=tenant,
                    case=case,
                    kind=CaseEventKind.ROTATION_DONE,
                    count=version,
                    actor=actor_label(ROTATION_ACTOR),
                ).save(force_insert=True)
                record_event(
                    tenant=tenant,
                    actor=ROTATION_ACTOR,
                    action="incidents.key_rotation_done",
                    target=case,
                    details={"case": case.pk, "version": version, "drill": case.is_drill},
                )


# --- Promoting a customer's privacy report ------------------------------------------------

_KIND_OF_REPORT = {
    ReportKind.LABEL: CaseKind.MIS_SENT_LABEL,
    ReportKind.WRONG_CONTACT: CaseKind.INSIDER_ACCESS,
}


def case_of_report(report: PrivacyReport) -> IncidentCase | None:
    with tenant_scope(report.tenant):
        return IncidentCase.objects.filter(privacy_report=report).first()


def promote_privacy_report(
    *, report: PrivacyReport, actor: Actor, discovered_at: datetime | None = None
) -> IncidentCase:
    """Open a case from a customer's privacy report, linked to it: graded "general" until
    reviewed, one affected customer, discovered when the report was received. Once per
    report (``Conflict`` naming the case). Audited with the case's opening
    (``incidents.case_opened``, ``privacy_report``: the report's id)."""
    _require_manager(actor, report.tenant_id)
    kind = ReportKind(report.kind)
    existing = case_of_report(report)
    if existing is not None:
        raise Conflict(
            _("This report was already promoted to the case %(code)s.") % {"code": existing.code}
        )
    return open_case(
        tenant=report.tenant,
        title=_("From a customer's privacy report: %(kind)s") % {"kind": kind.label},
        severity=CaseSeverity.GENERAL,
        severity_reason=_("Graded when promoted from a customer's report; review the grade."),
        kind=_KIND_OF_REPORT.get(kind, CaseKind.OTHER),
        data_categories=[],
        affected_customers=1,
        discovered_at=discovered_at or report.received_at,
        discovered_by=_("Customer's privacy report"),
        is_drill=False,
        actor=actor,
        privacy_report=report,
    )


# --- Promotion of an anomalous-access alert (issue 20) ---------------------------------------


def promote_alert_to_case(alert: AccessAlert, actor: User) -> PromotedCase:
    """audits' alert promoter (``audits.alerts.register_alert_promoter``, from incidents'
    ``ready()``): open a case linked to ``alert`` — insider access, graded "general" until
    reviewed, no affected customer counted yet, discovered when the alert first saw its
    events. Once per alert (``Conflict`` naming the case). Runs in the caller's transaction
    (``audits.alerts.promote_alert``), which audits the promotion."""
    case = open_case(
        tenant=alert.tenant,
        title=_("From an alert: %(rule)s") % {"rule": rule_label(alert.rule)},
        severity=CaseSeverity.GENERAL,
        severity_reason=_("Graded when promoted from an alert; review the grade."),
        kind=CaseKind.INSIDER_ACCESS,
        data_categories=[],
        affected_customers=0,
        discovered_at=min(alert.first_seen_at, timezone.now()),
        discovered_by=_("Anomalous-access alert"),
        is_drill=False,
        actor=actor,
        alert=alert,
    )
    return PromotedCase(case_id=case.pk, code=case.code)


def case_page(case_id: int) -> str:
    return reverse("admin:incidents_incidentcase_change", args=[case_id])
