"""What incidents shows on the supervisor dashboard (issue 20): the incidents panel — open
leak cases with their legal clocks, overdue reports, open order anomalies, customers'
privacy reports and their deadlines — and the compliance indicators of §5.1 (leak
incidents handled and reported on time) and §6.2.2 (customers' reports answered on
time). Registered from ``IncidentsConfig.ready()`` into audits' registries.

Reads only, inside the tenant's scope, each an indexed query: cases by ``(tenant, state,
opened_at)``, reports by ``(tenant, made_at, due_at)``, anomalies by ``(tenant,
resolved_at, reported_at)``, privacy reports by ``(tenant, status, due_at)``. Case codes,
labels, counts and dates; never a case's free text or a customer's data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, Min, Prefetch, Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy, ngettext

from audits.compliance import Indicator, Status
from audits.links import followable
from audits.panels import Period
from audits.shared_reads import shared
from incidents.models import (
    AnomalyKind,
    CaseReport,
    CaseReportKind,
    CaseSeverity,
    CaseState,
    IncidentCase,
    OrderAnomaly,
    PrivacyReport,
    ReportStatus,
)
from tenants.models import Tenant

#: The open cases listed on the panel (the count above them is complete).
CASES_SHOWN = 8
OPEN_REPORT = (ReportStatus.RECEIVED, ReportStatus.IN_PROGRESS)


def _list_url(name: str, **params: str) -> str:
    query = urlencode({k: v for k, v in params.items() if v})
    return reverse(name) + (f"?{query}" if query else "")


def unmade_reports() -> Q:
    """Reports a case still owes (made, withdrawn and drills' left out)."""
    return Q(made_at__isnull=True, withdrawn_at__isnull=True)


@dataclass(frozen=True)
class Deadlines:
    overdue: int
    upcoming: int
    next_due: datetime | None


def overdue_case_reports(tenant: Tenant, now: datetime) -> int:
    """Reports to the authority or summaries past their due time, drills left out (once per
    dashboard page, audits.shared_reads)."""
    return shared(
        ("incidents.overdue_reports", tenant.pk),
        lambda: CaseReport.objects.filter(
            unmade_reports(), tenant=tenant, due_at__lt=now, is_drill=False
        ).count(),
    )


def privacy_report_deadlines(tenant: Tenant, now: datetime) -> Deadlines:
    """Open customers' reports past and before their deadline (once per dashboard page)."""
    return shared(("incidents.report_deadlines", tenant.pk), lambda: _deadlines(tenant, now))


def _deadlines(tenant: Tenant, now: datetime) -> Deadlines:
    row = PrivacyReport.objects.filter(tenant=tenant, status__in=OPEN_REPORT).aggregate(
        overdue=Count("pk", filter=Q(due_at__lt=now)),
        upcoming=Count("pk", filter=Q(due_at__gte=now)),
        next_due=Min("due_at", filter=Q(due_at__gte=now)),
    )
    return Deadlines(row["overdue"], row["upcoming"], row["next_due"])


def open_cases(tenant: Tenant) -> tuple[int, list[IncidentCase]]:
    """The number of open cases and the oldest ``CASES_SHOWN`` of them with their unmade
    reports (three queries)."""
    cases = IncidentCase.objects.filter(tenant=tenant).exclude(state=CaseState.CLOSED)
    shown = list(
        cases.order_by("opened_at", "pk")
        .only("pk", "code", "severity", "state", "is_drill", "opened_at", "tenant_id")
        .prefetch_related(
            Prefetch(
                "reports",
                queryset=CaseReport.objects.filter(unmade_reports()).order_by("due_at", "pk"),
                to_attr="owed",
            )
        )[:CASES_SHOWN]
    )
    total = len(shown) if len(shown) < CASES_SHOWN else cases.count()
    return total, shown


def incidents_panel(request: HttpRequest, tenant: Tenant, period: Period) -> dict[str, Any]:
    """Open cases with their clocks, overdue reports, open anomalies, customers' reports and
    their deadlines. A link the reader may not follow is left out (audits.links)."""
    allowed: dict[str, bool] = {}

    def _url(name: str, **params: str) -> str:
        if name not in allowed:  # once per list, not per figure
            allowed[name] = bool(followable(request, reverse(name)))
        return _list_url(name, **params) if allowed[name] else ""

    now = timezone.now()
    total, shown = open_cases(tenant)
    case_list = "admin:incidents_incidentcase_changelist"
    anomalies = dict(
        OrderAnomaly.objects.filter(tenant=tenant, resolved_at__isnull=True)
        .values_list("kind")
        .annotate(n=Count("pk"))
        .order_by()
    )
    reports = privacy_report_deadlines(tenant, now)
    anomaly_list = "admin:incidents_orderanomaly_changelist"
    report_list = "admin:incidents_privacyreport_changelist"
    return {
        "open_cases": total,
        "open_cases_url": _url(case_list, open="yes"),
        "cases": [
            {
                "code": case.code,
                "url": reverse("admin:incidents_incidentcase_change", args=[case.pk])
                if _url(case_list)
                else "",
                "severity": CaseSeverity(case.severity).label,
                "state": CaseState(case.state).label,
                "drill": case.is_drill,
                "clocks": [
                    {
                        "kind": CaseReportKind(report.kind).label,
                        "due_at": report.due_at,
                        "overdue": report.due_at < now,
                    }
                    for report in case.owed  # type: ignore[attr-defined]
                ],
            }
            for case in shown
        ],
        "more_cases": max(0, total - len(shown)),
        "overdue_reports": overdue_case_reports(tenant, now),
        "overdue_reports_url": _url(case_list, clock="overdue"),
        "anomalies": sum(anomalies.values()),
        "anomalies_url": _url(anomaly_list, state="open"),
        "anomaly_kinds": [
            {
                "label": label,
                "n": anomalies[kind],
                "url": _url(anomaly_list, state="open", kind__exact=kind),
            }
            for kind, label in AnomalyKind.choices
            if anomalies.get(kind)
        ],
        "reports_overdue": reports.overdue,
        "reports_overdue_url": _url(report_list, deadline="overdue"),
        "reports_open": reports.overdue + reports.upcoming,
        "reports_open_url": _url(report_list, deadline="open"),
        "reports_next_due": reports.next_due,
    }


# --- compliance indicators -----------------------------------------------------------------


def incidents_indicator(tenant: Tenant, period: Period) -> Indicator:
    """§5.1: a leak is handled at once and reported within its legal clocks."""
    now = timezone.now()
    overdue = overdue_case_reports(tenant, now)
    if overdue:
        return Indicator(
            Status.FAILING,
            ngettext("%(n)d incident report overdue", "%(n)d incident reports overdue", overdue)
            % {"n": overdue},
            _list_url("admin:incidents_incidentcase_changelist", clock="overdue"),
        )
    running = CaseReport.objects.filter(unmade_reports(), tenant=tenant, is_drill=False).count()
    return Indicator(
        Status.ATTENTION if running else Status.OK,
        ngettext(
            "0 incident reports overdue; %(n)d clock running",
            "0 incident reports overdue; %(n)d clocks running",
            running,
        )
        % {"n": running},
        _list_url("admin:incidents_incidentcase_changelist", clock="running"),
    )


def feedback_indicator(tenant: Tenant, period: Period) -> Indicator:
    """§6.2.2: customers' privacy reports are looked into and answered in time."""
    reports = privacy_report_deadlines(tenant, timezone.now())
    if reports.overdue:
        return Indicator(
            Status.FAILING,
            ngettext(
                "%(n)d customer report past its deadline",
                "%(n)d customer reports past their deadline",
                reports.overdue,
            )
            % {"n": reports.overdue},
            _list_url("admin:incidents_privacyreport_changelist", deadline="overdue"),
        )
    return Indicator(
        Status.OK,
        ngettext(
            "0 customer reports overdue; %(n)d open within its deadline",
            "0 customer reports overdue; %(n)d open within their deadline",
            reports.upcoming,
        )
        % {"n": reports.upcoming},
        _list_url("admin:incidents_privacyreport_changelist", deadline="open"),
    )


def register() -> None:
    """From ``IncidentsConfig.ready()``."""
    from audits.compliance import register_indicator
    from audits.panels import SUPERVISORS, register_panel

    register_panel(
        "incidents.overview",
        title=gettext_lazy("Incidents"),
        roles=SUPERVISORS,
        order=40,
        template="incidents/panels/incidents.html",
        context=incidents_panel,
    )
    register_indicator(
        "incidents.clocks",
        clause="5.1",
        title=gettext_lazy("Leak incidents handled and reported on time"),
        order=510,
        compute=incidents_indicator,
    )
    register_indicator(
        "incidents.feedback",
        clause="6.2.2",
        title=gettext_lazy("Customers' reports answered on time"),
        order=622,
        compute=feedback_indicator,
    )
