"""Regrading a case (issue 18): severity with a new reason, kind, affected data and
customers, time of discovery; audited and on the timeline; the clocks follow."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from core.errors import Conflict
from incidents.case_actions import regrade_case
from incidents.cases import move_case, open_case
from incidents.clocks import check_tenant_clocks
from incidents.models import CaseEvent, CaseEventKind, CaseReport, IncidentCase
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.factories import TenantFactory, UserFactory, verified_second_factor

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def tenant() -> Tenant:
    return TenantFactory()


@pytest.fixture
def officer(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER], username="po-chen")


def _open(
    tenant: Tenant, actor: Any, severity: str = "general", hours_ago: int = 1
) -> IncidentCase:
    return open_case(
        tenant=tenant,
        title="Labels misprinted",
        severity=severity,
        severity_reason="First look",
        kind="other",
        data_categories=["address"],
        affected_customers=2,
        discovered_at=timezone.now() - timedelta(hours=hours_ago),
        discovered_by="Packer",
        is_drill=False,
        actor=actor,
    )


def _regrade(case: IncidentCase, actor: Any, **overrides: Any) -> IncidentCase:
    values: dict[str, Any] = {
        "severity": case.severity,
        "severity_reason": "Reassessed",
        "kind": case.kind,
        "data_categories": list(case.data_categories),
        "affected_customers": case.affected_customers,
        "discovered_at": case.discovered_at,
    }
    values.update(overrides)
    return regrade_case(case=case, actor=actor, **values)


def _reports(case: IncidentCase) -> list[CaseReport]:
    with tenant_scope(case.tenant):
        return list(CaseReport.objects.filter(case=case))


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    verified_second_factor(client, user)
    return client


def _page(client: Client, case: IncidentCase) -> str:
    url = reverse("admin:incidents_incidentcase_change", args=[case.pk])
    return client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_a_regrade_to_major_starts_the_authority_clock_from_discovery(
    tenant: Tenant, officer: User
) -> None:
    case = _open(tenant, officer)
    before = _reports(case)
    regraded = _regrade(
        case, officer, severity="major", severity_reason="40 labels", affected_customers=40
    )
    [report] = _reports(case)
    with tenant_scope(tenant):
        event = CaseEvent.objects.get(case=case, kind=CaseEventKind.REGRADED)
        audit = AuditEvent.objects.get(action="incidents.case_regraded")
    assert (
        before,
        regraded.severity,
        regraded.severity_reason,
        regraded.affected_customers,
        report.kind,
        report.due_at,
        event.target,
        event.note,
        audit.details,
    ) == (
        [],
        "major",
        "40 labels",
        40,
        "authority_initial",
        case.discovered_at + timedelta(hours=4),
        "general>major",
        "40 labels",
        {
            "case": case.pk,
            "from_severity": "general",
            "to_severity": "major",
            "fields": ["severity", "affected_customers"],
            "discovered_at": [case.discovered_at.isoformat()] * 2,
            "due_at": [None, (case.discovered_at + timedelta(hours=4)).isoformat()],
            "drill": False,
        },
    )


def test_a_downgrade_keeps_an_unmade_report_but_not_required_and_an_upgrade_restores_it(
    tenant: Tenant, officer: User
) -> None:
    case = _open(tenant, officer, severity="major", hours_ago=5)  # already overdue
    _regrade(case, officer, severity="general", severity_reason="Only 1 label, recovered")
    [withdrawn] = _reports(case)
    checked = check_tenant_clocks(tenant)
    page = _page(_client(officer), case)
    _regrade(case, officer, severity="serious", severity_reason="More found")
    [restored] = _reports(case)
    assert (
        withdrawn.withdrawn_at is not None,
        checked,
        "Not required after the regrade" in page,
        "Regraded from “Major” to “General”" in page,
        restored.withdrawn_at,
        restored.due_at,
    ) == (True, (0, 0), True, True, None, case.discovered_at + timedelta(hours=4))


def test_a_corrected_discovery_moves_an_unmade_clock(tenant: Tenant, officer: User) -> None:
    case = _open(tenant, officer, severity="major")
    earlier = case.discovered_at - timedelta(hours=2)
    _regrade(case, officer, discovered_at=earlier, severity_reason="Found earlier")
    [report] = _reports(case)
    assert (report.starts_at, report.due_at) == (earlier, earlier + timedelta(hours=4))


def test_a_closed_case_is_not_regraded(tenant: Tenant, officer: User) -> None:
    case = _open(tenant, officer)
    for state in ("investigating", "remediated", "closed"):
        move_case(case=case, to=state, actor=officer)
    with pytest.raises(Conflict, match="closed"):
        _regrade(case, officer, severity="major")


def test_nothing_changed_is_a_conflict(tenant: Tenant, officer: User) -> None:
    case = _open(tenant, officer)
    with pytest.raises(Conflict, match="Nothing changed"):
        _regrade(case, officer, severity_reason="First look")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"severity_reason": ""}, "severity_reason"),
        ({"severity": "huge"}, "severity"),
        ({"kind": "nope"}, "kind"),
        ({"data_categories": ["blood_type"]}, "data_categories"),
        ({"affected_customers": -1}, "affected_customers"),
        ({"discovered_at": timezone.now() + timedelta(days=2)}, "discovered_at"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    tenant: Tenant, officer: User, overrides: dict[str, Any], field: str
) -> None:
    case = _open(tenant, officer)
    with pytest.raises(ValidationError) as error:
        _regrade(case, officer, **{"severity": "major", **overrides})
    with tenant_scope(tenant):
        severity = IncidentCase.objects.get(pk=case.pk).severity
    assert (field in error.value.message_dict, severity) == (True, "general")


@pytest.mark.parametrize("role", [Role.CUSTOMER_SERVICE, Role.DISPATCHER, Role.PACKER])
def test_only_case_managers_regrade(tenant: Tenant, officer: User, role: Role) -> None:
    case = _open(tenant, officer)
    with pytest.raises(PermissionDenied):
        _regrade(case, UserFactory(tenant=tenant, roles=[role]), severity="major")


def test_the_page_regrades_and_shows_it_on_the_timeline(tenant: Tenant, officer: User) -> None:
    case = _open(tenant, officer)
    client = _client(officer)
    url = reverse("admin:incidents_incidentcase_regrade", args=[case.pk])
    local = timezone.localtime(case.discovered_at).strftime("%Y-%m-%dT%H:%M")
    body = {
        "severity": "major",
        "severity_reason": "More labels",
        "kind": "mis_sent_label",
        "data_categories": ["address", "name"],
        "affected_customers": "12",
        "discovered_at": local,
    }
    missing = client.post(url, {**body, "severity_reason": ""}, HTTP_ACCEPT_LANGUAGE="en")
    unchanged = _reports(case)
    response = client.post(url, body, HTTP_ACCEPT_LANGUAGE="en")
    page = _page(client, case)
    with tenant_scope(tenant):
        case = IncidentCase.objects.get(pk=case.pk)
    assert (
        missing.status_code,
        unchanged,
        response.status_code,
        case.severity,
        case.kind,
        case.data_categories,
        case.affected_customers,
        "Regraded from “General” to “Major”" in page,
        len(_reports(case)),
    ) == (302, [], 302, "major", "mis_sent_label", ["name", "address"], 12, True, 1)


def test_another_tenants_manager_gets_404(tenant: Tenant, officer: User) -> None:
    case = _open(tenant, officer)
    client = _client(UserFactory(tenant=TenantFactory(), roles=[Role.TENANT_ADMIN]))
    url = reverse("admin:incidents_incidentcase_regrade", args=[case.pk])
    response = client.post(url, {"severity": "major", "severity_reason": "x"})
    with tenant_scope(tenant):
        severity = IncidentCase.objects.get(pk=case.pk).severity
    assert (response.status_code, severity) == (404, "general")
