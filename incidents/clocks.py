"""Legal clocks on leak incident cases (issue 18, point 2): which reports a case owes, by
when, and the check that escalates a clock running out and flags one that ran out.

The tenant's profile (``IncidentProfile``; none = the default, Chinese rules, not a
critical-information-infrastructure operator) and the case's severity decide the duty:

- CN (PIPL art. 57; the CAC's Measures for reporting network-security incidents, 2025;
  policy §5.2): a personal-data incident graded MAJOR (较大) or above is reported to the
  provincial cyberspace authority within **4 hours** of its discovery; a critical
  information infrastructure operator reports to its protection department and the police
  within **1 hour** (Regulations on the Security Protection of CII, art. 18).
- GDPR (art. 33(1)): the supervisory authority within **72 hours** of becoming aware,
  "unless the breach is unlikely to result in a risk". We take a GENERAL grade as that
  "unlikely to result in a risk" and MAJOR and above as reportable, as for CN: a GENERAL
  case can be regraded when the assessment changes (``ensure_clocks``).
- Every case (drills too) that had a report duty owes a **summary report within 30
  days of closing** (the CAC measures' post-incident summary; policy §5.2). It is created
  the first time the case is closed; reopening and closing again keeps its due time.

Regrading (incidents.case_actions.regrade_case → ``regrade_clocks``): a regrade to MAJOR or
above starts the authority clock from the time of discovery, as if the case had been
opened so (it may be due at once, or already overdue: the report is late already). A
downgrade below MAJOR does not delete an authority report that was not made yet: it is
kept, marked **not required** (``withdrawn_at``), no longer escalated nor flagged, and
shown so on the case page; a report already made stays made. Upgrading again makes it
required again with its first due time (from discovery). A corrected time of discovery
moves an unmade authority clock (start and due time) with it; the first due time is kept
(``first_due_at``) and a clock already escalated or flagged overdue stays so (a regrade
never clears ``escalated_at`` nor ``overdue_at``). Moving the time of discovery later, or
a downgrade that withdraws an authority report not yet made, is for a privacy officer
only (incidents.case_actions). The summary clock is owed only when the authority report
was required at closing.

A drill's clocks run too (the drill rehearses them) but its reports are marked as a
drill's and never sent anywhere: nothing here sends anything.

Escalation: a clock not made with less than a quarter of its period left — at most 24
hours before it is due for the long clocks (72 hours: 18 h; 30 days: 24 h; 4 h: 1 h;
1 h: 15 min) — is escalated once: an audit event ``incidents.case_clock_escalated``, a
line on the case's timeline, and a back-office notification to the case's owner (who opened
it) and the tenant's privacy officers (incidents.staff_notifications; by the tenant's
channel too). A clock past due is flagged overdue once (timeline; the list and the page
show it in red; the same people are notified). Both are set under the report's row lock and only when not
yet set, so running the check twice acts once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.services import record_event
from incidents.models import (
    CaseEvent,
    CaseEventKind,
    CaseReport,
    CaseReportKind,
    CaseSeverity,
    IncidentCase,
    IncidentProfile,
    Jurisdiction,
)
from incidents.staff_notifications import notify_clock
from tenants.actors import Actor, SystemActor, actor_label
from tenants.models import Role, Tenant, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope
from tenants.selectors import iter_tenants

# The grades that owe a report to the authority (both profiles; see above).
REPORTABLE_SEVERITIES = frozenset(
    {CaseSeverity.MAJOR, CaseSeverity.SERIOUS, CaseSeverity.ESPECIALLY_SERIOUS}
)

# (jurisdiction, critical information infrastructure) -> time from discovery to report.
AUTHORITY_REPORT_PERIODS: dict[tuple[str, bool], timedelta] = {
    # CN: provincial cyberspace authority, 4 hours (CAC incident-reporting measures).
    (Jurisdiction.CN_PIPL, False): timedelta(hours=4),
    # CN, CII operator: protection department and police, 1 hour (CII regulations art. 18).
    (Jurisdiction.CN_PIPL, True): timedelta(hours=1),
    # GDPR art. 33(1): supervisory authority, 72 hours, CII or not.
    (Jurisdiction.GDPR, False): timedelta(hours=72),
    (Jurisdiction.GDPR, True): timedelta(hours=72),
}

# The summary report after closing (every case that had a report duty).
SUMMARY_PERIOD = timedelta(days=30)

# Escalate when less than this share of the period is left, at most this long before due.
ESCALATE_SHARE = 0.25
ESCALATE_AT_MOST = timedelta(hours=24)

CLOCK_ACTOR = SystemActor("case-clocks")


@dataclass(frozen=True)
class Profile:
    jurisdiction: str = Jurisdiction.CN_PIPL
    critical_infrastructure: bool = False


def profile_of(tenant: Tenant) -> Profile:
    with tenant_scope(tenant):
        row = IncidentProfile.objects.first()
    if row is None:
        return Profile()
    return Profile(row.jurisdiction, row.critical_infrastructure)


def may_set_profile(actor: Actor, tenant_id: int) -> bool:
    """Only a tenant administrator of the tenant sets its reporting profile."""
    return (
        isinstance(actor, User)
        and actor.is_active
        and actor.tenant_id == tenant_id
        and has_role(actor, Role.TENANT_ADMIN)
    )


def set_profile(
    *, tenant: Tenant, jurisdiction: str, critical_infrastructure: bool, actor: Actor
) -> IncidentProfile:
    """Set the tenant's reporting profile (audited: ``incidents.reporting_profile_set``).
    It applies to clocks started from now on; running clocks keep their due times."""
    if not may_set_profile(actor, tenant.pk):
        raise PermissionDenied(_("Only a tenant administrator sets the reporting profile."))
    if jurisdiction not in Jurisdiction.values:
        raise ValidationError({"jurisdiction": _("Choose a jurisdiction.")})
    with transaction.atomic(), tenant_scope(tenant):
        profile, _created = IncidentProfile.objects.update_or_create(
            tenant=tenant,
            defaults={
                "jurisdiction": jurisdiction,
                "critical_infrastructure": bool(critical_infrastructure),
            },
        )
        record_event(
            tenant=tenant,
            actor=actor,
            action="incidents.reporting_profile_set",
            target=profile,
            details={
                "jurisdiction": profile.jurisdiction,
                "critical_infrastructure": profile.critical_infrastructure,
            },
        )
    return profile


def authority_period(profile: Profile, severity: str) -> timedelta | None:
    """The time from discovery to the authority's report, or None: no report owed."""
    if severity not in REPORTABLE_SEVERITIES:
        return None
    return AUTHORITY_REPORT_PERIODS[(profile.jurisdiction, profile.critical_infrastructure)]


def ensure_clocks(case: IncidentCase) -> list[CaseReport]:
    """Start the authority-report clock the case's grade calls for, if it has none yet
    (opening; a regrade calls this too). Inside the caller's transaction and scope."""
    period = authority_period(profile_of(case.tenant), case.severity)
    if period is None:
        return []
    report, created = CaseReport.objects.get_or_create(
        tenant=case.tenant,
        case=case,
        kind=CaseReportKind.AUTHORITY_INITIAL,
        defaults={
            "is_drill": case.is_drill,
            "starts_at": case.discovered_at,
            "due_at": case.discovered_at + period,
        },
    )
    return [report] if created else []


def regrade_clocks(
    case: IncidentCase, *, discovery_moved: bool
) -> tuple[datetime | None, datetime | None]:
    """After a regrade (see the module): start, withdraw or restore the authority clock,
    and move an unmade one with a corrected time of discovery. ``overdue_at`` and
    ``escalated_at`` are never cleared: a report once overdue stays flagged, and its first
    due time is kept in ``first_due_at``. Inside the caller's transaction and scope.
    Returns the authority report's due time before and after (None: no such report)."""
    period = authority_period(profile_of(case.tenant), case.severity)
    report = (
        CaseReport.objects.select_for_update()
        .filter(case=case, kind=CaseReportKind.AUTHORITY_INITIAL)
        .first()
    )
    if report is None:
        started = ensure_clocks(case)
        return None, (started[0].due_at if started else None)
    due_before = report.due_at
    if report.made_at is not None:
        return due_before, due_before
    fields = []
    if period is None and report.withdrawn_at is None:
        report.withdrawn_at = timezone.now()
        fields.append("withdrawn_at")
    elif period is not None and report.withdrawn_at is not None:
        report.withdrawn_at = None
        fields.append("withdrawn_at")
    if discovery_moved:
        length = period or (report.due_at - report.starts_at)
        if report.first_due_at is None:
            report.first_due_at = report.due_at
            fields.append("first_due_at")
        report.starts_at = case.discovered_at
        report.due_at = case.discovered_at + length
        fields += ["starts_at", "due_at"]
    if fields:
        report.save(update_fields=fields)
    return due_before, report.due_at


def start_summary_clock(case: IncidentCase, *, closed_at: datetime) -> CaseReport | None:
    """When a case closes: the summary report, due 30 days later, if it had a report duty
    (once: a reopened case closed again keeps the first due time)."""
    if not CaseReport.objects.filter(
        case=case, kind=CaseReportKind.AUTHORITY_INITIAL, withdrawn_at__isnull=True
    ).exists():
        return None
    report, _created = CaseReport.objects.get_or_create(
        tenant=case.tenant,
        case=case,
        kind=CaseReportKind.SUMMARY,
        defaults={
            "is_drill": case.is_drill,
            "starts_at": closed_at,
            "due_at": closed_at + SUMMARY_PERIOD,
        },
    )
    return report


def escalation_lead(report: CaseReport) -> timedelta:
    """How long before it is due a clock is escalated."""
    return min((report.due_at - report.starts_at) * ESCALATE_SHARE, ESCALATE_AT_MOST)


def _event(report: CaseReport, kind: str) -> None:
    CaseEvent(
        tenant=report.tenant,
        case_id=report.case_id,
        kind=kind,
        target=report.kind,
        actor=actor_label(CLOCK_ACTOR),
    ).save(force_insert=True)


def check_tenant_clocks(tenant: Tenant, *, now: datetime | None = None) -> tuple[int, int]:
    """Escalate and flag the tenant's open clocks (see the module). Returns the number
    escalated and the number flagged overdue by this run."""
    now = now or timezone.now()
    escalated = overdue = 0
    with tenant_scope(tenant):
        candidates = list(
            CaseReport.objects.filter(made_at__isnull=True, withdrawn_at__isnull=True)
            .filter(
                Q(escalated_at__isnull=True, due_at__lte=now + ESCALATE_AT_MOST)
                | Q(overdue_at__isnull=True, due_at__lte=now)
            )
            .values_list("pk", flat=True)
        )
        for pk in candidates:
            with transaction.atomic():
                report = (
                    CaseReport.objects.select_for_update()
                    .filter(pk=pk, made_at__isnull=True, withdrawn_at__isnull=True)
                    .first()
                )
                if report is None:
                    continue
                fields = []
                if report.escalated_at is None and now >= report.due_at - escalation_lead(report):
                    report.escalated_at = now
                    fields.append("escalated_at")
                    _event(report, CaseEventKind.CLOCK_ESCALATED)
                    record_event(
                        tenant=tenant,
                        actor=CLOCK_ACTOR,
                        action="incidents.case_clock_escalated",
                        target=report.case,
                        details={
                            "case": report.case_id,
                            "report": report.pk,
                            "kind": report.kind,
                            "drill": report.is_drill,
                        },
                    )
                    notify_clock(report, overdue=False)  # incidents.staff_notifications
                    escalated += 1
                if report.overdue_at is None and now >= report.due_at:
                    report.overdue_at = now
                    fields.append("overdue_at")
                    _event(report, CaseEventKind.CLOCK_OVERDUE)
                    notify_clock(report, overdue=True)
                    overdue += 1
                if fields:
                    report.save(update_fields=fields)
    return escalated, overdue


def check_all_clocks(*, now: datetime | None = None) -> dict[str, int]:
    """The beat job's body: every active tenant in turn, inside its scope."""
    escalated = overdue = 0
    for tenant in iter_tenants(active_only=True):
        done = check_tenant_clocks(tenant, now=now)
        escalated += done[0]
        overdue += done[1]
    return {"escalated": escalated, "overdue": overdue}
