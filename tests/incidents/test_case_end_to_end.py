"""A leak case from its report to its closing, through the back office's pages, on
PostgreSQL with a real Celery worker (issue 18's acceptance): containment that takes effect
(the ended session is refused, the revoked token gets 401, the suspended rider is refused by
dispatch), the legal clock escalated then flagged overdue by the beat job on the worker with
time moved forward, the report recorded as made, the investigation, the affected customers,
the notice approved by a privacy officer and texted by the worker through a test SMS gateway
exactly once per customer, the regulator document without the customers' personal data, and
the closing that starts the summary clock — each step on the case's timeline and in the
audit trail (the overdue flag is on the timeline and in the inbox: the issue asks an audit
event for the escalation only)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from incidents.models import (
    AffectedCustomer,
    CaseEvent,
    CaseNotice,
    CaseReport,
    DeliveryStatus,
    EvidenceFile,
    IncidentCase,
    InvestigationItem,
    NoticeDelivery,
    NoticeState,
)
from incidents.staff_notifications import CLOCK_ESCALATED, CLOCK_OVERDUE
from incidents.tasks import check_case_clocks, send_case_notice
from privacy.sms import sms_backend
from tenants.models import Notification, Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.factories import (
    PASSWORD,
    IntegrationTokenFactory,
    OrderFactory,
    TenantFactory,
    UserFactory,
)
from tests.gateway_server import GatewayServer
from tests.riders.conftest import make_rider, packed_order

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the walk-through runs on PostgreSQL with a real worker on Redis",
    ),
    pytest.mark.django_db(databases="__all__", transaction=True),
]

CUSTOMERS = [
    {"name": "欧阳娜娜", "phone": "13912345678", "address": "上海市浦东新区张江路88号7栋1201室"},
    {"name": "Zhang Wei", "phone": "13800001111", "address": "北京市朝阳区建国路1号"},
    {"name": "李小龙", "phone": "13700002222", "address": "广州市天河区体育西路9号"},
]
NOTICE = {
    "data_categories": ["name", "address"],
    "cause_zh": "配送员丢失了一部手机",
    "cause_en": "A rider lost a phone",
    "harm_zh": "他人可能看到您的地址",
    "harm_en": "Someone may see your address",
    "measures_zh": "我们已远程锁定该手机",
    "measures_en": "We locked the phone remotely",
    "advice_zh": "如遇可疑来访请报警",
    "advice_en": "Call the police if a stranger visits",
    "contact": "privacy@example.com / 400-800-1234",
}
SUSPENDED = "the rider is suspended from dispatch until it is lifted"


@pytest.fixture
def gateway(settings: Any) -> Iterator[GatewayServer]:
    """The SMS backend is the HTTP one, pointed at a test gateway answering 200."""
    with GatewayServer() as server:
        settings.BAOMI_SMS_BACKEND = "privacy.sms.HttpSmsBackend"
        settings.BAOMI_SMS_GATEWAY = server.config(retries=0)
        sms_backend.cache_clear()
        yield server
        sms_backend.cache_clear()


def _wait(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("the worker did not finish in time")


def _staff(user: User) -> Client:
    client = Client()
    client.force_login(user)  # with a verified second factor (tests/conftest.py)
    return client


def _scoped(tenant: Tenant, query: Callable[[], Any]) -> Any:
    with tenant_scope(tenant):
        return query()


def _post(client: Client, name: str, case: IncidentCase, data: Any = None, *more: int) -> Any:
    response = client.post(
        reverse(f"admin:incidents_incidentcase_{name}", args=[case.pk, *more]),
        data or {},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 302, (name, response.status_code)
    return response


def _case(case: IncidentCase) -> IncidentCase:
    return _scoped(case.tenant, lambda: IncidentCase.objects.get(pk=case.pk))


def _report(case: IncidentCase, kind: str) -> CaseReport:
    return _scoped(case.tenant, lambda: CaseReport.objects.get(case=case, kind=kind))


def _timeline(case: IncidentCase) -> list[str]:
    return _scoped(
        case.tenant,
        lambda: list(
            CaseEvent.objects.filter(case=case).order_by("pk").values_list("kind", flat=True)
        ),
    )


def _inbox(tenant: Tenant, user: User) -> list[str]:
    return _scoped(
        tenant,
        lambda: sorted(Notification.objects.filter(user=user).values_list("kind", flat=True)),
    )


def test_a_leak_case_from_report_to_closing(
    worker: str, gateway: GatewayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The notice's task goes to this test's worker (the approval queues it after the commit).
    monkeypatch.setattr(send_case_notice, "_exec_options", {"queue": worker})
    tenant = TenantFactory(name="Good Food")
    owner = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR], username="sup-chen")
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER], username="po-li")
    second_officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER], username="po-zhou")
    orders = [OrderFactory(tenant=tenant, customer=dict(c)) for c in CUSTOMERS]
    supervisor, privacy = _staff(owner), _staff(officer)

    # 1. Reported: a 较大 (major) case, opened on the add form, discovered 3½ hours ago (its
    # 4-hour report to the cyberspace authority is due in half an hour).
    discovered = timezone.localtime() - timedelta(hours=3, minutes=30)
    opened = supervisor.post(
        reverse("admin:incidents_incidentcase_add"),
        {
            "title": "Rider's phone lost on route 3",
            "severity": "major",
            "severity_reason": "Labels of three orders visible in the phone's photos",
            "kind": "lost_device",
            "data_categories": ["name", "address", "phone"],
            "affected_customers": "3",
            "discovered_at_0": discovered.strftime("%Y-%m-%d"),
            "discovered_at_1": discovered.strftime("%H:%M:%S"),
            "discovered_by": "Dispatcher on duty",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    case = _scoped(tenant, IncidentCase.objects.get)
    assert (opened.status_code, opened.url, case.severity, case.state, case.opened_by) == (
        302,
        reverse("admin:incidents_incidentcase_change", args=[case.pk]),
        "major",
        "reported",
        f"user:{owner.pk}",
    )

    # 2. Containment. The rider who lost the phone: their sessions end, their next request
    # goes to the login page.
    courier = UserFactory(tenant=tenant, roles=[Role.RIDER])
    courier_client = Client()
    assert courier_client.login(username=courier.username, password=PASSWORD)
    assert courier_client.get("/rider/").status_code == 200
    _post(
        supervisor,
        "contain",
        case,
        {"action": "end_sessions", "target": f"user-{courier.pk}", "reason": "phone lost"},
    )
    refused = courier_client.get("/rider/")
    assert (refused.status_code, "/login" in refused.url) == (302, True)

    # The integration token that was on the phone: 200 before, 401 after.
    token = IntegrationTokenFactory(tenant=tenant)
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token.raw}"}
    assert Client().get("/api/v1/orders/", **bearer).status_code == 200
    _post(
        supervisor,
        "contain",
        case,
        {"action": "revoke_token", "target": f"token-{token.pk}", "reason": "token on the phone"},
    )
    assert Client().get("/api/v1/orders/", **bearer).status_code == 401

    # A rider who shared labels: suspended from dispatch, the dispatcher gets a 409 naming it.
    rider = make_rider(tenant)
    _post(
        supervisor,
        "contain",
        case,
        {"action": "suspend_dispatch", "target": f"user-{rider.user_id}", "reason": "shared"},
    )
    dispatcher = Client()
    dispatcher.force_login(UserFactory(tenant=tenant, roles=[Role.DISPATCHER]))
    assigned = dispatcher.post(
        f"/api/v1/orders/{packed_order(tenant).pk}/assign/",
        data={"rider": rider.pk},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert (assigned.status_code, assigned.json()["missing"]) == (409, [SUSPENDED])
    _post(supervisor, "move", case, {"to": "contained", "note": "phone locked remotely"})

    # 3. The legal clock: the beat job on the real worker escalates it (half an hour left of
    # four hours), then, with the time moved an hour forward, flags it overdue.
    report = _report(case, "authority_initial")
    check_case_clocks.apply_async(queue=worker)
    _wait(lambda: _report(case, "authority_initial").escalated_at is not None)
    assert _report(case, "authority_initial").overdue_at is None
    real_now = timezone.now
    with mock.patch("django.utils.timezone.now", lambda: real_now() + timedelta(hours=1)):
        check_case_clocks.apply_async(queue=worker)
        _wait(lambda: _report(case, "authority_initial").overdue_at is not None)
    people = {u.username: _inbox(tenant, u) for u in (owner, officer, second_officer)}
    assert people == {
        name: sorted([CLOCK_ESCALATED, CLOCK_OVERDUE]) for name in ("sup-chen", "po-li", "po-zhou")
    }
    # The report made (late), with the authority's reference.
    _post(privacy, "report_made", case, {"reference": "CAC-2026-0042"}, report.pk)
    made = _report(case, "authority_initial")
    assert (made.made_at is not None, made.reference, made.made_by) == (
        True,
        "CAC-2026-0042",
        f"user:{officer.pk}",
    )

    # 4. The investigation: an audit event (the ended sessions), a finding, an evidence file.
    _post(privacy, "move", case, {"to": "investigating", "note": ""})
    ended = _scoped(tenant, lambda: AuditEvent.objects.get(action="user.sessions_ended"))
    _post(privacy, "investigation_event", case, {"event": str(ended.pk)})
    _post(privacy, "investigation_finding", case, {"text": "The phone had no screen lock"})
    _post(
        privacy,
        "evidence_upload",
        case,
        {"file": SimpleUploadedFile("route-3.log", b"14:02 phone reported lost")},
    )
    evidence = _scoped(tenant, EvidenceFile.objects.get)
    downloaded = privacy.get(
        reverse("admin:incidents_incidentcase_evidence_download", args=[case.pk, evidence.pk])
    )
    items = _scoped(
        tenant,
        lambda: sorted(InvestigationItem.objects.filter(case=case).values_list("kind", flat=True)),
    )
    assert (downloaded.status_code, downloaded.content, len(items)) == (
        200,
        b"14:02 phone reported lost",
        2,
    )

    # 5. The affected customers, by order code; the notice drafted by the supervisor and
    # approved by a privacy officer: the worker texts every customer exactly once.
    _post(supervisor, "affected_add", case, {"codes": " ".join(o.code for o in orders)})
    assert _scoped(tenant, lambda: AffectedCustomer.objects.filter(case=case).count()) == 3
    _post(supervisor, "notice", case, dict(NOTICE))
    _post(privacy, "notice_approve", case)
    notice = _scoped(tenant, CaseNotice.objects.get)
    _wait(lambda: _scoped(tenant, lambda: CaseNotice.objects.get(pk=notice.pk).state) == "sent")
    time.sleep(0.5)  # nothing else arrives
    deliveries = _scoped(
        tenant, lambda: list(NoticeDelivery.objects.filter(notice=notice).order_by("pk"))
    )
    notified = _scoped(
        tenant, lambda: [r.notified_at is not None for r in AffectedCustomer.objects.all()]
    )
    assert (
        sorted(r.json()["to"] for r in gateway.requests),
        {d.status for d in deliveries},
        notified,
        _scoped(tenant, lambda: CaseNotice.objects.get(pk=notice.pk).state),
    ) == (
        sorted(c["phone"] for c in CUSTOMERS),
        {DeliveryStatus.SENT},
        [True] * 3,
        NoticeState.SENT,
    )

    # 6. The regulator document: the case, none of the customers' values nor their orders.
    document = privacy.get(
        reverse("admin:incidents_incidentcase_regulator_document", args=[case.pk]),
        HTTP_ACCEPT_LANGUAGE="en",
    )
    text = document.content.decode()
    values = [v for c in CUSTOMERS for v in c.values()] + [o.code for o in orders]
    assert (document.status_code, case.code in text, [v for v in values if v in text]) == (
        200,
        True,
        [],
    )

    # 7. Notified, remediated, closed: the summary report's 30-day clock starts.
    for state in ("notified", "remediated", "closed"):
        _post(privacy, "move", case, {"to": state, "note": ""})
    summary = _report(case, "summary")
    assert (
        _case(case).state,
        abs(summary.starts_at - timezone.now()) < timedelta(minutes=1),
        summary.due_at - summary.starts_at,
    ) == ("closed", True, timedelta(days=30))

    # The case's timeline and the audit trail hold every step, in order.
    assert _timeline(case) == [
        "opened",
        "containment",
        "containment",
        "containment",
        "moved",
        "clock_escalated",
        "clock_overdue",
        "report_made",
        "moved",
        "moved",
        "moved",
        "moved",
    ]
    trail = _scoped(
        tenant,
        lambda: [
            (e.action, (e.details or {}).get("to_state") or (e.details or {}).get("containment"))
            for e in AuditEvent.objects.filter(action__startswith="incidents.").order_by("sequence")
        ],
    )
    assert trail == [
        ("incidents.case_opened", None),
        ("incidents.containment_done", "end_sessions"),
        ("incidents.containment_done", "revoke_token"),
        ("incidents.containment_done", "suspend_dispatch"),
        ("incidents.case_moved", "contained"),
        ("incidents.case_clock_escalated", None),
        ("incidents.case_report_made", None),
        ("incidents.case_moved", "investigating"),
        ("incidents.investigation_added", None),
        ("incidents.investigation_added", None),
        ("incidents.evidence_added", None),
        ("incidents.evidence_downloaded", None),
        ("incidents.affected_customers_added", None),
        ("incidents.notice_saved", None),
        ("incidents.notice_approved", None),
        ("incidents.notice_sent", None),
        ("incidents.regulator_document_produced", None),
        ("incidents.case_moved", "notified"),
        ("incidents.case_moved", "remediated"),
        ("incidents.case_moved", "closed"),
    ]
    reveals = _scoped(
        tenant,
        lambda: AuditEvent.objects.filter(
            action="privacy.reveal", purpose="incident_notice"
        ).count(),
    )
    assert reveals == 3  # the customers' phones, through the vault, at send time only
