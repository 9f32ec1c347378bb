"""The evidence pack's incident section (issue 20, point 6; audits.pack_sections): the leak
incident cases opened in the period and the legal clocks (reports owed to the authority,
summary reports) due or made in it, each marked kept, late, overdue or not required.
Cases are named by their code; the free-text title and notes are left out (they are
written by staff and could name someone), and so is every customer's data."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from django.db.models import Count, F, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audits.evidence_values import People
from audits.pack_sections import PackFile, PackSection, register_pack_section
from audits.panels import Period
from incidents.models import CaseReport, IncidentCase
from tenants.models import Tenant

CASE_HEADER = (
    gettext_lazy("case"),
    gettext_lazy("drill"),
    gettext_lazy("severity"),
    gettext_lazy("kind"),
    gettext_lazy("state"),
    gettext_lazy("discovered at"),
    gettext_lazy("opened at"),
    gettext_lazy("opened by"),
    gettext_lazy("affected customers"),
)
REPORT_HEADER = (
    gettext_lazy("case"),
    gettext_lazy("report"),
    gettext_lazy("drill"),
    gettext_lazy("clock started at"),
    gettext_lazy("due at"),
    gettext_lazy("made at"),
    gettext_lazy("clock"),
    gettext_lazy("made by"),
    gettext_lazy("escalated at"),
    gettext_lazy("flagged overdue at"),
)


def _cases(tenant: Tenant, period: Period) -> Any:
    return IncidentCase.objects.filter(
        tenant=tenant, opened_at__gte=period.start, opened_at__lt=period.end
    )


def _reports(tenant: Tenant, period: Period) -> Any:
    due = Q(due_at__gte=period.start, due_at__lt=period.end)
    made = Q(made_at__gte=period.start, made_at__lt=period.end)
    return CaseReport.objects.filter(due | made, tenant=tenant)


def clock_state(report: CaseReport, period: Period) -> str:
    if report.withdrawn_at is not None and report.made_at is None:
        return _("not required")
    if report.made_at is not None:
        return _("kept") if report.made_at <= report.due_at else _("late")
    return _("overdue") if report.due_at < period.end else _("running")


def _case_rows(tenant: Tenant, period: Period) -> Iterator[Sequence[Any]]:
    people = People(tenant)
    cases = list(_cases(tenant, period).order_by("opened_at", "pk"))
    people.load(c.opened_by for c in cases)
    for case in cases:
        yield (
            case.code,
            case.is_drill,
            case.get_severity_display(),
            case.get_kind_display(),
            case.get_state_display(),
            case.discovered_at,
            case.opened_at,
            people.of(case.opened_by)[0],
            case.affected_customers,
        )


def _report_rows(tenant: Tenant, period: Period) -> Iterator[Sequence[Any]]:
    people = People(tenant)
    reports = list(_reports(tenant, period).select_related("case").order_by("due_at", "pk"))
    people.load(r.made_by for r in reports if r.made_by)
    for report in reports:
        yield (
            report.case.code,
            report.get_kind_display(),
            report.is_drill,
            report.starts_at,
            report.due_at,
            report.made_at,
            clock_state(report, period),
            people.of(report.made_by)[0] if report.made_by else "",
            report.escalated_at,
            report.overdue_at,
        )


def incidents(tenant: Tenant, period: Period) -> PackSection:
    cases = _cases(tenant, period).aggregate(
        real=Count("pk", filter=Q(is_drill=False)), drills=Count("pk", filter=Q(is_drill=True))
    )
    required = Q(withdrawn_at__isnull=True) | Q(made_at__isnull=False)
    real = Q(is_drill=False)
    reports = _reports(tenant, period).aggregate(
        owed=Count("pk", filter=required & real),
        kept=Count("pk", filter=real & Q(made_at__isnull=False, made_at__lte=F("due_at"))),
        late=Count("pk", filter=real & Q(made_at__isnull=False, made_at__gt=F("due_at"))),
        overdue=Count(
            "pk",
            filter=real & Q(made_at__isnull=True, withdrawn_at__isnull=True, due_at__lt=period.end),
        ),
    )
    return PackSection(
        files=[
            PackFile("incident_cases.csv", CASE_HEADER, _case_rows(tenant, period)),
            PackFile("incident_clocks.csv", REPORT_HEADER, _report_rows(tenant, period)),
        ],
        summary=[
            (gettext_lazy("Incident cases opened"), cases["real"]),
            (gettext_lazy("Drills opened as cases"), cases["drills"]),
            (gettext_lazy("Reports owed in the period"), reports["owed"]),
            (gettext_lazy("Reports made on time"), reports["kept"]),
            (gettext_lazy("Reports made late"), reports["late"]),
            (gettext_lazy("Reports overdue and not made"), reports["overdue"]),
        ],
        notes=[
            gettext_lazy(
                "A report is listed when it was due or made in the period; drills' clocks "
                "are listed and marked, and not counted in the summary's reports."
            )
        ],
    )


def register() -> None:
    register_pack_section(
        "incidents.cases",
        title=gettext_lazy("Incidents and their legal clocks"),
        order=30,
        build=incidents,
    )
