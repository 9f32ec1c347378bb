"""Drills run as incident cases in drill mode (issue 19, point 6): the runner and the reader
that incidents registers with training.drills (training is an earlier layer and may not
import incidents). The case opens through incidents.cases.open_case — the same
permission check, numbering, timeline and audit event as any case — marked as a drill,
graded and kinded from the drill's scenario, with no customers and no personal data."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents import cases as case_services
from incidents.models import CASE_TITLE_MAX_LENGTH, CaseKind, CaseSeverity, CaseState, IncidentCase
from tenants.models import User
from tenants.scoping import tenant_scope
from training.drills import DrillCase, register_drill_runner
from training.models import Drill, DrillScenario

# The kind and grade of the practice case each scenario opens.
SCENARIO_CASES: dict[str, tuple[CaseKind, CaseSeverity]] = {
    DrillScenario.LOST_RIDER_PHONE: (CaseKind.LOST_DEVICE, CaseSeverity.GENERAL),
    DrillScenario.MIS_SENT_LABEL: (CaseKind.MIS_SENT_LABEL, CaseSeverity.GENERAL),
    DrillScenario.INSIDER_ACCESS: (CaseKind.INSIDER_ACCESS, CaseSeverity.MAJOR),
    DrillScenario.SYSTEM_BREACH: (CaseKind.SYSTEM_BREACH, CaseSeverity.SERIOUS),
    DrillScenario.OTHER: (CaseKind.OTHER, CaseSeverity.GENERAL),
}


def _described(case: IncidentCase) -> DrillCase:
    return DrillCase(
        id=case.pk,
        code=case.code,
        url=reverse("admin:incidents_incidentcase_change", args=[case.pk]),
        state=str(CaseState(case.state).label),
        closed=case.state == CaseState.CLOSED,
    )


def open_drill_case(drill: Drill, actor: User) -> DrillCase:
    """Open the drill's practice case (``is_drill``), in the caller's transaction."""
    kind, severity = SCENARIO_CASES.get(drill.scenario, (CaseKind.OTHER, CaseSeverity.GENERAL))
    title = (_("Drill: %(title)s") % {"title": drill.title})[:CASE_TITLE_MAX_LENGTH]
    case = case_services.open_case(
        tenant=drill.tenant,
        title=title,
        severity=severity,
        severity_reason=_("Graded by the drill's scenario: %(scenario)s")
        % {"scenario": DrillScenario(drill.scenario).label},
        kind=kind,
        data_categories=[],
        affected_customers=0,
        discovered_at=timezone.now(),
        discovered_by=_("Drill"),
        is_drill=True,
        actor=actor,
    )
    return _described(case)


def drill_case(drill: Drill) -> DrillCase | None:
    """The drill's linked case now (its state), or None if there is no such drill case."""
    if drill.case_id is None:
        return None
    with tenant_scope(drill.tenant_id):
        case = IncidentCase.objects.filter(pk=drill.case_id, is_drill=True).first()
    return _described(case) if case is not None else None


def register() -> None:
    register_drill_runner(open_drill_case, drill_case)
