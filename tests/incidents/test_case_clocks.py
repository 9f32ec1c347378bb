"""Legal clocks on leak incident cases (issue 18, point 2): the reports a case owes per
profile and grade, recording one, escalation and overdue flags, drills, the beat job."""

from __future__ import annotations

import inspect
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from core.errors import Conflict
from incidents import clocks
from incidents.cases import move_case, open_case, record_report
from incidents.models import (
    CaseEvent,
    CaseReport,
    IncidentCase,
    IncidentProfile,
)
from incidents.tasks import check_case_clocks
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.factories import TenantFactory, UserFactory, verified_second_factor

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def tenant() -> Tenant:
    return TenantFactory()


@pytest.fixture
def officer(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER], username="po-li")


def _profile(tenant: Tenant, jurisdiction: str, cii: bool = False) -> None:
    with tenant_scope(tenant):
        IncidentProfile(tenant=tenant, jurisdiction=jurisdiction, critical_infrastructure=cii).save(
            force_insert=True
        )


def _open(tenant: Tenant, actor: Any, **overrides: Any) -> IncidentCase:
    values: dict[str, Any] = {
        "title": "Courier's phone lost on route 3",
        "severity": "major",
        "severity_reason": "Labels of 40 orders visible",
        "kind": "lost_device",
        "data_categories": ["address"],
        "affected_customers": 40,
        "discovered_at": timezone.now() - timedelta(minutes=30),
        "discovered_by": "Dispatcher on duty",
        "is_drill": False,
    }
    values.update(overrides)
    return open_case(tenant=tenant, actor=actor, **values)


def _reports(case: IncidentCase) -> list[CaseReport]:
    with tenant_scope(case.tenant):
        return list(CaseReport.objects.filter(case=case).order_by("due_at"))


def _events(tenant: Tenant, action: str) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


def _case_events(case: IncidentCase) -> list[str]:
    with tenant_scope(case.tenant):
        return list(CaseEvent.objects.filter(case=case).values_list("kind", flat=True))


@pytest.mark.parametrize(
    ("jurisdiction", "cii", "severity", "hours"),
    [
        ("cn_pipl", False, "major", 4),
        ("cn_pipl", False, "especially_serious", 4),
        ("cn_pipl", True, "serious", 1),
        ("gdpr", False, "major", 72),
        ("gdpr", True, "major", 72),
        ("cn_pipl", False, "general", None),
        ("gdpr", False, "general", None),
    ],
)
def test_the_authority_clock_per_profile_and_severity(
    tenant: Tenant, officer: User, jurisdiction: str, cii: bool, severity: str, hours: int | None
) -> None:
    _profile(tenant, jurisdiction, cii)
    case = _open(tenant, officer, severity=severity)
    reports = _reports(case)
    if hours is None:
        assert reports == []
    else:
        assert [(r.kind, r.due_at - case.discovered_at, r.is_drill) for r in reports] == [
            ("authority_initial", timedelta(hours=hours), False)
        ]


def test_without_a_profile_the_default_is_chinese_rules(tenant: Tenant, officer: User) -> None:
    case = _open(tenant, officer)
    assert [r.due_at - case.discovered_at for r in _reports(case)] == [timedelta(hours=4)]


def _close(case: IncidentCase, actor: User) -> None:
    for state in ("investigating", "remediated", "closed"):
        move_case(case=case, to=state, actor=actor)


def test_the_summary_is_due_30_days_after_closing_once(tenant: Tenant, officer: User) -> None:
    case = _open(tenant, officer)
    _close(case, officer)
    summary = [r for r in _reports(case) if r.kind == "summary"]
    assert len(summary) == 1
    assert summary[0].due_at - summary[0].starts_at == timedelta(days=30)
    assert abs(summary[0].starts_at - timezone.now()) < timedelta(minutes=1)
    move_case(case=case, to="investigating", actor=officer)
    move_case(case=case, to="remediated", actor=officer)
    move_case(case=case, to="closed", actor=officer)
    assert [r.due_at for r in _reports(case) if r.kind == "summary"] == [summary[0].due_at]


def test_a_general_case_owes_no_summary(tenant: Tenant, officer: User) -> None:
    case = _open(tenant, officer, severity="general")
    _close(case, officer)
    assert _reports(case) == []


def test_recording_a_report_once_audited_without_the_reference(
    tenant: Tenant, officer: User
) -> None:
    case = _open(tenant, officer)
    report = _reports(case)[0]
    made = record_report(case=case, report_id=report.pk, reference=" CAC-2026-118 ", actor=officer)
    assert (made.reference, made.made_by, made.made_at is not None) == (
        "CAC-2026-118",
        f"user:{officer.pk}",
        True,
    )
    events = _events(tenant, "incidents.case_report_made")
    assert [e.details for e in events] == [
        {"case": case.pk, "report": report.pk, "kind": "authority_initial", "drill": False}
    ]
    assert "report_made" in _case_events(case)
    with pytest.raises(Conflict):
        record_report(case=case, report_id=report.pk, reference="again", actor=officer)


@pytest.mark.parametrize("reference", ["", "   ", "x" * 101, "line\nbreak"])
def test_a_bad_reference_is_refused(tenant: Tenant, officer: User, reference: str) -> None:
    case = _open(tenant, officer)
    with pytest.raises(ValidationError):
        record_report(case=case, report_id=_reports(case)[0].pk, reference=reference, actor=officer)


def test_another_cases_report_is_a_404(tenant: Tenant, officer: User) -> None:
    case = _open(tenant, officer)
    other = _open(tenant, officer, title="Another")
    with pytest.raises(Http404):
        record_report(case=case, report_id=_reports(other)[0].pk, reference="X1", actor=officer)


def test_escalation_once_then_overdue_once(tenant: Tenant, officer: User) -> None:
    discovered = timezone.now() - timedelta(minutes=10)
    case = _open(tenant, officer, discovered_at=discovered)  # due in 3 h 50 min
    report = _reports(case)[0]
    assert clocks.check_tenant_clocks(tenant, now=discovered + timedelta(hours=2)) == (0, 0)
    at = discovered + timedelta(hours=3, minutes=1)  # less than a quarter (1 h) left
    assert clocks.check_tenant_clocks(tenant, now=at) == (1, 0)
    assert clocks.check_tenant_clocks(tenant, now=at + timedelta(minutes=5)) == (0, 0)
    late = discovered + timedelta(hours=4, minutes=1)
    assert clocks.check_tenant_clocks(tenant, now=late) == (0, 1)
    assert clocks.check_tenant_clocks(tenant, now=late) == (0, 0)
    report = _reports(case)[0]
    assert (report.escalated_at, report.overdue_at) == (at, late)
    assert [e.details for e in _events(tenant, "incidents.case_clock_escalated")] == [
        {"case": case.pk, "report": report.pk, "kind": "authority_initial", "drill": False}
    ]
    kinds = _case_events(case)
    assert (kinds.count("clock_escalated"), kinds.count("clock_overdue")) == (1, 1)


def test_an_overdue_clock_never_escalated_is_escalated_and_flagged(
    tenant: Tenant, officer: User
) -> None:
    discovered = timezone.now() - timedelta(minutes=10)
    case = _open(tenant, officer, discovered_at=discovered)
    assert clocks.check_tenant_clocks(tenant, now=discovered + timedelta(hours=5)) == (1, 1)
    assert len(_reports(case)) == 1


def test_a_made_report_is_never_escalated(tenant: Tenant, officer: User) -> None:
    discovered = timezone.now() - timedelta(minutes=10)
    case = _open(tenant, officer, discovered_at=discovered)
    record_report(case=case, report_id=_reports(case)[0].pk, reference="R-1", actor=officer)
    assert clocks.check_tenant_clocks(tenant, now=discovered + timedelta(hours=5)) == (0, 0)


def test_long_clocks_escalate_at_most_24_hours_before(tenant: Tenant, officer: User) -> None:
    _profile(tenant, "gdpr")
    discovered = timezone.now() - timedelta(minutes=10)
    _open(tenant, officer, discovered_at=discovered)  # 72 h: escalate 18 h before
    assert clocks.check_tenant_clocks(tenant, now=discovered + timedelta(hours=53)) == (0, 0)
    assert clocks.check_tenant_clocks(tenant, now=discovered + timedelta(hours=54, minutes=1)) == (
        1,
        0,
    )
    summary = CaseReport(
        starts_at=discovered, due_at=discovered + clocks.SUMMARY_PERIOD, kind="summary"
    )
    assert clocks.escalation_lead(summary) == timedelta(hours=24)


def test_drills_clocks_run_and_are_marked(tenant: Tenant, officer: User) -> None:
    discovered = timezone.now() - timedelta(minutes=10)
    case = _open(tenant, officer, discovered_at=discovered, is_drill=True)
    assert [r.is_drill for r in _reports(case)] == [True]
    assert clocks.check_tenant_clocks(tenant, now=discovered + timedelta(hours=5)) == (1, 1)
    assert _events(tenant, "incidents.case_clock_escalated")[0].details["drill"] is True
    _close(case, officer)
    assert [(r.kind, r.is_drill) for r in _reports(case)] == [
        ("authority_initial", True),
        ("summary", True),
    ]


def test_the_beat_job_takes_no_arguments_and_walks_every_tenant(
    tenant: Tenant, officer: User
) -> None:
    other = TenantFactory()
    other_officer = UserFactory(tenant=other, roles=[Role.PRIVACY_OFFICER])
    long_ago = timezone.now() - timedelta(hours=5)
    _open(tenant, officer, discovered_at=long_ago)
    _open(other, other_officer, discovered_at=long_ago)
    assert inspect.signature(check_case_clocks.run).parameters == {}
    assert settings.CELERY_BEAT_SCHEDULE["check-case-clocks"] == {
        "task": "incidents.tasks.check_case_clocks",
        "schedule": timedelta(minutes=5),
    }
    assert check_case_clocks() == {"escalated": 2, "overdue": 2}
    assert check_case_clocks() == {"escalated": 0, "overdue": 0}


# The back office.


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    verified_second_factor(client, user)
    return client


def _page(client: Client, case: IncidentCase) -> str:
    url = reverse("admin:incidents_incidentcase_change", args=[case.pk])
    response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    return str(response.content.decode())


def _made_url(case: IncidentCase, report: CaseReport) -> str:
    return reverse("admin:incidents_incidentcase_report_made", args=[case.pk, report.pk])


def test_the_page_lists_the_clock_and_records_a_report_post_redirect_get(
    tenant: Tenant, officer: User
) -> None:
    case = _open(tenant, officer)
    report = _reports(case)[0]
    client = _client(officer)
    page = _page(client, case)
    assert ("Reports due" in page, "Report to the authority" in page, " left" in page) == (
        True,
        True,
        True,
    )
    response = client.post(
        _made_url(case, report), {"reference": "CAC-77"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    again = client.post(_made_url(case, report), {"reference": "CAC-77"}, HTTP_ACCEPT_LANGUAGE="en")
    page = _page(client, case)
    assert (
        response.status_code,
        response.url,
        again.status_code,
        len(_events(tenant, "incidents.case_report_made")),
        "CAC-77" in page,
        "po-li" in page,
        "already recorded" in page,
    ) == (
        302,
        reverse("admin:incidents_incidentcase_change", args=[case.pk]),
        302,
        1,
        True,
        True,
        True,
    )


def test_a_bad_reference_on_the_page_is_a_message(tenant: Tenant, officer: User) -> None:
    case = _open(tenant, officer)
    client = _client(officer)
    response = client.post(
        _made_url(case, _reports(case)[0]), {"reference": "x" * 101}, HTTP_ACCEPT_LANGUAGE="en"
    )
    page = _page(client, case)
    assert (response.status_code, "at most 100 characters" in page, _reports(case)[0].made_at) == (
        302,
        True,
        None,
    )


def test_another_tenants_case_is_a_404(tenant: Tenant, officer: User) -> None:
    other = TenantFactory()
    other_officer = UserFactory(tenant=other, roles=[Role.PRIVACY_OFFICER])
    case = _open(other, other_officer)
    response = _client(officer).post(
        _made_url(case, _reports(case)[0]), {"reference": "X"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert (response.status_code, _reports(case)[0].made_at) == (404, None)


def test_overdue_shows_in_red_on_the_page_and_in_the_list(tenant: Tenant, officer: User) -> None:
    case = _open(tenant, officer, discovered_at=timezone.now() - timedelta(hours=5))
    clocks.check_tenant_clocks(tenant)
    client = _client(officer)
    page = _page(client, case)
    listing = client.get(
        reverse("admin:incidents_incidentcase_changelist"), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert (
        'class="baomi-overdue"' in page,
        "Overdue by" in page,
        "is due soon" in page,
        "overdue" in listing,
    ) == (True, True, True, True)


# The reporting profile.


def test_a_tenant_admin_sets_the_profile_in_the_back_office_audited(
    tenant: Tenant, officer: User
) -> None:
    admin_user = UserFactory(tenant=tenant, roles=[Role.TENANT_ADMIN], username="ta-chen")
    client = _client(admin_user)
    add = reverse("admin:incidents_incidentprofile_add")
    response = client.post(
        add, {"jurisdiction": "gdpr", "critical_infrastructure": "on"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 302
    with tenant_scope(tenant):
        profile = IncidentProfile.objects.get()
    assert (profile.jurisdiction, profile.critical_infrastructure) == ("gdpr", True)
    assert [e.details for e in _events(tenant, "incidents.reporting_profile_set")] == [
        {"jurisdiction": "gdpr", "critical_infrastructure": True}
    ]
    change = reverse("admin:incidents_incidentprofile_change", args=[profile.pk])
    client.post(change, {"jurisdiction": "cn_pipl"}, HTTP_ACCEPT_LANGUAGE="en")
    assert clocks.profile_of(tenant) == clocks.Profile("cn_pipl", False)
    assert client.get(add).status_code == 403  # one profile per tenant
    # A privacy officer sees it and cannot change it.
    officer_client = _client(officer)
    assert officer_client.get(change).status_code == 200
    officer_client.post(change, {"jurisdiction": "gdpr"}, HTTP_ACCEPT_LANGUAGE="en")
    assert clocks.profile_of(tenant) == clocks.Profile("cn_pipl", False)
    with pytest.raises(PermissionDenied):
        clocks.set_profile(
            tenant=tenant, jurisdiction="gdpr", critical_infrastructure=False, actor=officer
        )
    # Another tenant's profile is a 404.
    other = TenantFactory()
    _profile(other, "gdpr")
    with tenant_scope(other):
        other_pk = IncidentProfile.objects.get().pk
    other_url = reverse("admin:incidents_incidentprofile_change", args=[other_pk])
    assert client.get(other_url).status_code == 404
