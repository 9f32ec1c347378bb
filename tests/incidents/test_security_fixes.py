"""Fixes from the incidents app's security review: non-ASCII digits are bad input (not a
500); a regrade never hides an overdue clock and records its times, and the moves that
would delay or withdraw a report are a privacy officer's; evidence keeps no uploaded name;
an upload is one file, capped over the whole request; the public report page writes no
session on a GET; the download's audit event is durable; a tenant may only shorten the
platform's deadline for privacy reports."""

from __future__ import annotations

from datetime import timedelta
from io import BytesIO
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import StopFutureHandlers, StopUpload
from django.db import transaction
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from incidents.case_actions import regrade_case
from incidents.cases import open_case
from incidents.clocks import check_tenant_clocks
from incidents.investigation import add_evidence, download_evidence, link_audit_event
from incidents.investigation_admin import EvidenceUploadHandler
from incidents.models import (
    AnomalyKind,
    CaseEvent,
    CaseEventKind,
    CaseReport,
    EvidenceFile,
    IncidentCase,
    OrderAnomaly,
)
from incidents.reports import report_deadline
from incidents.services import report_anomaly
from tenants.actors import SystemActor
from tenants.forms import TenantSettingsForm
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tenants.services import change_tenant_settings
from tests.factories import OrderFactory, TenantFactory, UserFactory, verified_second_factor

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def tenant() -> Tenant:
    return TenantFactory(slug="hangzhou-eats", name="Hangzhou Eats")


@pytest.fixture
def officer(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER], username="po-zhao")


@pytest.fixture
def supervisor(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.SUPERVISOR], username="sv-qian")


def _case(tenant: Tenant, actor: User, *, severity: str = "major", hours_ago: int = 1) -> Any:
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


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    verified_second_factor(client, user)
    return client


def _url(name: str, *args: Any) -> str:
    return reverse(f"admin:incidents_incidentcase_{name}", args=args)


def _events(tenant: Tenant, action: str) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


def _evidence(case: IncidentCase) -> list[EvidenceFile]:
    with tenant_scope(case.tenant):
        return list(EvidenceFile.objects.filter(case=case).order_by("pk"))


def _report(case: IncidentCase) -> CaseReport:
    with tenant_scope(case.tenant):
        return CaseReport.objects.get(case=case, kind="authority_initial")


# --- 1. Non-ASCII digits --------------------------------------------------------------------


def test_a_superscript_assignee_is_refused_not_a_500(tenant: Tenant) -> None:
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    anomaly = report_anomaly(
        order=OrderFactory(tenant=tenant), kind=AnomalyKind.LOST, actor=SystemActor("tests")
    )
    client = Client()
    client.force_login(agent)
    url = reverse("admin:incidents_orderanomaly_assign", args=[anomaly.pk])
    response = client.post(url, {"assignee": "²"}, HTTP_ACCEPT_LANGUAGE="en", follow=True)
    with tenant_scope(tenant):
        assigned = OrderAnomaly.objects.get(pk=anomaly.pk).assigned_to
    assert (response.status_code, "Choose whom to assign it to." in response.content.decode()) == (
        200,
        True,
    )
    assert assigned == ""


@pytest.mark.parametrize("value", ["²", "١٢", "１２"])
def test_a_non_ascii_audit_event_id_is_a_400(tenant: Tenant, officer: User, value: str) -> None:
    case = _case(tenant, officer)
    with pytest.raises(ValidationError):
        link_audit_event(case=case, event_id=value, actor=officer)
    response = _client(officer).post(
        _url("investigation_event", case.pk), {"event": value}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400


# --- 2. Regrading never hides an overdue clock ------------------------------------------------


def _regrade(case: IncidentCase, actor: User, **overrides: Any) -> IncidentCase:
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


def test_a_later_discovery_keeps_the_overdue_flag_and_the_first_due_time(
    tenant: Tenant, officer: User
) -> None:
    case = _case(tenant, officer, hours_ago=6)  # due 4 hours after discovery: overdue
    check_tenant_clocks(tenant)
    flagged = _report(case)
    first_due = flagged.due_at
    now = timezone.now().replace(microsecond=0)
    _regrade(case, officer, discovered_at=now, severity_reason="Found later")
    report = _report(case)
    with tenant_scope(tenant):
        event = CaseEvent.objects.get(case=case, kind=CaseEventKind.REGRADED)
    (audit,) = _events(tenant, "incidents.case_regraded")
    assert (
        report.overdue_at,
        report.escalated_at,
        report.first_due_at,
        report.due_at,
        event.times,
        audit.details["discovered_at"],
        audit.details["due_at"],
    ) == (
        flagged.overdue_at,
        flagged.escalated_at,
        first_due,
        now + timedelta(hours=4),
        {
            "discovered_at": [case.discovered_at.isoformat(), now.isoformat()],
            "due_at": [first_due.isoformat(), (now + timedelta(hours=4)).isoformat()],
        },
        [case.discovered_at.isoformat(), now.isoformat()],
        [first_due.isoformat(), (now + timedelta(hours=4)).isoformat()],
    )
    assert flagged.overdue_at is not None
    # The check does not flag it again, and it is still overdue on the case.
    check_tenant_clocks(tenant)
    assert _report(case).overdue_at == flagged.overdue_at


def test_only_a_privacy_officer_moves_discovery_later(
    tenant: Tenant, officer: User, supervisor: User
) -> None:
    case = _case(tenant, officer, hours_ago=3)
    with pytest.raises(PermissionDenied, match="Only a privacy officer"):
        _regrade(case, supervisor, discovered_at=case.discovered_at + timedelta(hours=1))
    earlier = _regrade(case, supervisor, discovered_at=case.discovered_at - timedelta(hours=1))
    assert earlier.discovered_at == case.discovered_at - timedelta(hours=1)


def test_only_a_privacy_officer_withdraws_an_unmade_report_by_a_downgrade(
    tenant: Tenant, officer: User, supervisor: User
) -> None:
    case = _case(tenant, officer)
    with pytest.raises(PermissionDenied, match="Only a privacy officer"):
        _regrade(case, supervisor, severity="general")
    assert _report(case).withdrawn_at is None
    _regrade(case, officer, severity="general")
    assert _report(case).withdrawn_at is not None


def test_the_regulator_document_shows_an_ever_overdue_report_and_the_regrades(
    tenant: Tenant, officer: User
) -> None:
    case = _case(tenant, officer, hours_ago=6)
    check_tenant_clocks(tenant)
    _regrade(
        case,
        officer,
        discovered_at=timezone.now().replace(second=0, microsecond=0),
        severity_reason="Found later",
    )
    page = (
        _client(officer)
        .get(_url("regulator_document", case.pk), HTTP_ACCEPT_LANGUAGE="en")
        .content.decode()
    )
    assert (
        "Overdue (flagged" in page,
        "first due" in page,
        'id="regrades"' in page,
        "discovered:" in page,
        "authority report due:" in page,
        "Found later" in page,
    ) == (True, True, True, True, True, True)


# --- 3. and 4. Evidence names and uploads -----------------------------------------------------


def _upload(client: Client, case: IncidentCase, data: dict[str, Any]) -> Any:
    return client.post(_url("evidence_upload", case.pk), data, HTTP_ACCEPT_LANGUAGE="en")


def test_an_uploaded_name_is_not_kept(tenant: Tenant, officer: User) -> None:
    case = _case(tenant, officer)
    client = _client(officer)
    personal = "张三 13800138000 上海市浦东新区.jpg"
    first = _upload(
        client,
        case,
        {"label": "Photo of the label", "file": SimpleUploadedFile(personal, b"jpg-bytes")},
    )
    second = _upload(client, case, {"file": SimpleUploadedFile("李四.exe", b"x")})
    files = _evidence(case)
    page = client.get(_url("change", case.pk), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    download = client.get(_url("evidence_download", case.pk, files[0].pk))
    assert (first.status_code, second.status_code) == (302, 302)
    assert [(f.name, f.label) for f in files] == [
        (f"evidence-{case.code}-1.jpg", "Photo of the label"),
        (f"evidence-{case.code}-2.bin", ""),
    ]
    assert (
        "13800138000" in page,
        "张三" in page,
        "李四" in page,
        "Photo of the label" in page,
        download["Content-Disposition"],
    ) == (False, False, False, True, f'attachment; filename="evidence-{case.code}-1.jpg"')


def test_a_label_with_a_line_break_is_refused(tenant: Tenant, officer: User) -> None:
    case = _case(tenant, officer)
    response = _upload(
        _client(officer), case, {"label": "a\nb", "file": SimpleUploadedFile("a.txt", b"a")}
    )
    assert (response.status_code, _evidence(case)) == (400, [])


@pytest.mark.parametrize(
    "data",
    [
        {"file": [SimpleUploadedFile("a.txt", b"a"), SimpleUploadedFile("b.txt", b"b")]},
        {"other": SimpleUploadedFile("a.txt", b"a")},
        {"other": SimpleUploadedFile("a.txt", b"a"), "file": SimpleUploadedFile("b.txt", b"b")},
    ],
)
def test_an_upload_is_exactly_one_file_in_the_file_field(
    tenant: Tenant, officer: User, data: dict[str, Any]
) -> None:
    case = _case(tenant, officer)
    response = _upload(_client(officer), case, data)
    assert (response.status_code, _evidence(case)) == (400, [])


def test_an_upload_over_the_cap_is_a_400(settings: Any, tenant: Tenant, officer: User) -> None:
    settings.EVIDENCE_MAX_BYTES = 1024
    case = _case(tenant, officer)
    response = _upload(_client(officer), case, {"file": SimpleUploadedFile("a.txt", b"y" * 2000)})
    assert (response.status_code, "too large" in response.content.decode(), _evidence(case)) == (
        400,
        True,
        [],
    )


def test_the_handler_counts_the_whole_request_and_stops_at_once() -> None:
    handler = EvidenceUploadHandler(RequestFactory().post("/"), limit=10)
    with pytest.raises(StopFutureHandlers):
        handler.new_file("file", "a.txt", "text/plain", None)
    handler.receive_data_chunk(b"x" * 6, 0)
    with pytest.raises(StopUpload) as stopped:
        handler.receive_data_chunk(b"x" * 6, 6)
    assert (stopped.value.connection_reset, handler.too_large, handler.buffer) == (
        False,
        True,
        None,
    )
    second = EvidenceUploadHandler(RequestFactory().post("/"), limit=10)
    second.files = 1
    with pytest.raises(StopUpload):
        second.new_file("file", "b.txt", "text/plain", None)
    assert second.refused is True


# --- 5. The public report page writes no session on a GET -------------------------------------


def test_five_gets_of_the_report_pages_write_no_session(tenant: Tenant) -> None:
    client = Client()
    for _ in range(5):
        assert client.get(reverse("incidents:report-for", args=[tenant.slug])).status_code == 200
    client.get(reverse("incidents:report"))
    assert Session.objects.count() == 0


def test_the_tenants_name_follows_a_started_report(tenant: Tenant) -> None:
    client = Client()
    client.post(
        reverse("incidents:report-for", args=[tenant.slug]),
        {"order_code": OrderFactory(tenant=tenant).code},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    page = client.get(reverse("incidents:report-verify"), HTTP_ACCEPT_LANGUAGE="en")
    assert "Hangzhou Eats" in page.content.decode()


# --- 6. The download's audit event is durable -------------------------------------------------


def test_a_download_inside_a_callers_transaction_is_refused(tenant: Tenant, officer: User) -> None:
    case = _case(tenant, officer)
    evidence = add_evidence(case=case, name="a.txt", source=BytesIO(b"abc"), size=3, actor=officer)
    with pytest.raises(RuntimeError), transaction.atomic():
        download_evidence(case=case, evidence_id=evidence.pk, actor=officer)
    _evidence_row, data = download_evidence(case=case, evidence_id=evidence.pk, actor=officer)
    assert (data, len(_events(tenant, "incidents.evidence_downloaded"))) == (b"abc", 1)


# --- 7. A tenant may only shorten the platform's deadline -------------------------------------


def test_a_tenant_may_not_lengthen_the_platforms_deadline(settings: Any, tenant: Tenant) -> None:
    settings.BAOMI_PRIVACY_REPORT_DAYS = 15
    admin = UserFactory(tenant=tenant, roles=[Role.TENANT_ADMIN])
    with pytest.raises(ValidationError, match="15"):
        change_tenant_settings(
            tenant=tenant,
            time_zone=tenant.time_zone,
            send_pin_by_sms=tenant.send_pin_by_sms,
            actor=admin,
            privacy_report_days=16,
        )
    change_tenant_settings(
        tenant=tenant,
        time_zone=tenant.time_zone,
        send_pin_by_sms=tenant.send_pin_by_sms,
        actor=admin,
        privacy_report_days=15,
    )
    form = TenantSettingsForm(
        {"time_zone": tenant.time_zone, "privacy_report_days": "30"}, tenant=tenant
    )
    assert (form.is_valid(), "privacy_report_days" in form.errors) == (False, True)
    Tenant.objects.filter(pk=tenant.pk).update(privacy_report_days=40)  # set before the cap
    tenant.refresh_from_db()
    assert report_deadline(tenant) == timedelta(days=15)
