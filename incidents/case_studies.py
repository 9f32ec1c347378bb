"""Where training's case studies come from (issue 19, point 7): the reader and the lister
that incidents registers with training.case_studies (training is an earlier layer and may
not import incidents). They give a case's structured facts only — kind, severity, the
categories of data affected, how long containment, closing and each report took, whether
the clocks were met — never its title, notes, findings, people, customers or orders."""

from __future__ import annotations

from django.db.models import Min, Q

from incidents.models import (
    CaseEvent,
    CaseEventKind,
    CaseKind,
    CaseReport,
    CaseSeverity,
    CaseState,
    DataCategory,
    IncidentCase,
)
from tenants.scoping import tenant_scope
from training.case_studies import CaseFacts, ReportFact, register_case_study_source

# How many closed cases the attach page offers (the newest).
CLOSED_CASES_LIMIT = 100


def _label(choices: type, value: str) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return value


def _facts(
    case: IncidentCase, *, events: dict[str, object], reports: list[CaseReport]
) -> CaseFacts:
    contained = events.get("contained")
    closed = events.get("closed")
    return CaseFacts(
        id=case.pk,
        code=case.code,
        closed=case.state == CaseState.CLOSED,
        drill=case.is_drill,
        state=_label(CaseState, case.state),
        kind=_label(CaseKind, case.kind),
        severity=_label(CaseSeverity, case.severity),
        data_categories=tuple(_label(DataCategory, c) for c in case.data_categories),
        contained_after=contained - case.discovered_at if contained else None,  # type: ignore[operator]
        closed_after=closed - case.discovered_at if closed else None,  # type: ignore[operator]
        reports=tuple(
            ReportFact(
                kind=str(report.get_kind_display()),
                took=report.made_at - report.starts_at if report.made_at else None,
                met=report.made_at <= report.due_at if report.made_at else False,
            )
            for report in reports
        ),
    )


def case_facts(tenant_id: int, case_id: int) -> CaseFacts | None:
    """The facts of the tenant's case ``case_id`` (None: no such case of that tenant)."""
    with tenant_scope(tenant_id):
        case = IncidentCase.objects.filter(pk=case_id, tenant_id=tenant_id).first()
        if case is None:
            return None
        events = CaseEvent.objects.filter(case=case).aggregate(
            contained=Min(
                "at",
                filter=Q(kind=CaseEventKind.CONTAINMENT)
                | Q(kind=CaseEventKind.MOVED, to_state=CaseState.CONTAINED),
            ),
            closed=Min("at", filter=Q(kind=CaseEventKind.MOVED, to_state=CaseState.CLOSED)),
        )
        reports = list(
            CaseReport.objects.filter(case=case, withdrawn_at__isnull=True).order_by("due_at", "pk")
        )
    return _facts(case, events=events, reports=reports)


def closed_cases(tenant_id: int) -> list[CaseFacts]:
    """The tenant's closed, real cases, newest first, as short facts (no timings: the
    attach page reads them for the chosen case)."""
    with tenant_scope(tenant_id):
        cases = list(
            IncidentCase.objects.filter(state=CaseState.CLOSED, is_drill=False).order_by(
                "-opened_at", "-pk"
            )[:CLOSED_CASES_LIMIT]
        )
    return [_facts(case, events={}, reports=[]) for case in cases]


def register() -> None:
    register_case_study_source(case_facts, closed_cases)
