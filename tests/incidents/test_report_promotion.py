"""A customer's privacy report promoted to an incident case (issue 18): linked both ways,
once, prefilled, audited, for case managers only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from core.errors import Conflict
from incidents.case_actions import case_of_report, promote_privacy_report
from incidents.models import IncidentCase, PrivacyReport
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, TenantFactory, UserFactory, verified_second_factor

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def tenant() -> Tenant:
    return TenantFactory()


@pytest.fixture
def officer(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])


def _report(tenant: Tenant, kind: str = "label") -> PrivacyReport:
    order = OrderFactory(tenant=tenant)
    with tenant_scope(tenant):
        report = PrivacyReport(
            tenant=tenant,
            order=order,
            subject_id=order.subject_id,
            kind=kind,
            tracking_hash="0" * 64,
            due_at=timezone.now() + timedelta(days=15),
        )
        report.save()
        return PrivacyReport.objects.get(pk=report.pk)


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    verified_second_factor(client, user)
    return client


def test_promotion_opens_a_linked_prefilled_case_once(tenant: Tenant, officer: User) -> None:
    report = _report(tenant, kind="label")
    case = promote_privacy_report(report=report, actor=officer)
    with pytest.raises(Conflict, match=f"already promoted to the case {case.code}"):
        promote_privacy_report(report=report, actor=officer)
    with tenant_scope(tenant):
        audit = AuditEvent.objects.get(action="incidents.case_opened")
        count = IncidentCase.objects.count()
    assert (
        case.privacy_report_id,
        case_of_report(report),
        case.kind,
        case.severity,
        case.affected_customers,
        case.discovered_at,
        count,
        audit.details["privacy_report"],
    ) == (report.pk, case, "mis_sent_label", "general", 1, report.received_at, 1, report.pk)


@pytest.mark.parametrize("role", [Role.CUSTOMER_SERVICE, Role.DISPATCHER])
def test_only_case_managers_promote(tenant: Tenant, role: Role) -> None:
    report = _report(tenant)
    with pytest.raises(PermissionDenied):
        promote_privacy_report(report=report, actor=UserFactory(tenant=tenant, roles=[role]))


def test_another_tenants_manager_may_not_promote(tenant: Tenant) -> None:
    report = _report(tenant)
    other = UserFactory(tenant=TenantFactory(), roles=[Role.PRIVACY_OFFICER])
    with pytest.raises(PermissionDenied):
        promote_privacy_report(report=report, actor=other)


def test_the_report_page_promotes_and_both_pages_link(tenant: Tenant, officer: User) -> None:
    report = _report(tenant)
    client = _client(officer)
    page_url = reverse("admin:incidents_privacyreport_change", args=[report.pk])
    before = client.get(page_url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    url = reverse("admin:incidents_privacyreport_promote", args=[report.pk])
    response = client.post(url, HTTP_ACCEPT_LANGUAGE="en")
    again = client.post(url, HTTP_ACCEPT_LANGUAGE="en")
    case = case_of_report(report)
    assert case is not None
    after = client.get(page_url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    case_page = client.get(response.url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert (
        'id="promote-report-form"' in before,
        response.status_code,
        response.url,
        again.status_code,
        again.url,
        f"Promoted to the case {case.code}" in after,
        'id="promote-report-form"' in after,
        page_url in case_page,
    ) == (
        True,
        302,
        reverse("admin:incidents_incidentcase_change", args=[case.pk]),
        302,
        page_url,
        True,
        False,
        True,
    )


def test_customer_service_sees_no_promote_button(tenant: Tenant) -> None:
    report = _report(tenant)
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    client = _client(agent)
    page = client.get(
        reverse("admin:incidents_privacyreport_change", args=[report.pk]),
        HTTP_ACCEPT_LANGUAGE="en",
    ).content.decode()
    response = client.post(reverse("admin:incidents_privacyreport_promote", args=[report.pk]))
    assert ('id="promote-report-form"' in page, response.status_code, case_of_report(report)) == (
        False,
        302,
        None,
    )


def test_another_tenants_report_is_404(tenant: Tenant) -> None:
    report = _report(tenant)
    client = _client(UserFactory(tenant=TenantFactory(), roles=[Role.PRIVACY_OFFICER]))
    response = client.post(reverse("admin:incidents_privacyreport_promote", args=[report.pk]))
    assert (response.status_code, case_of_report(report)) == (404, None)
