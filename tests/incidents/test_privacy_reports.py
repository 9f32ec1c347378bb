"""Customers report privacy problems (§6.2): the public pages (order code, one-time code by
SMS, a tracking code shown once, the status with a fresh code), the same answers whether
or not anything matches, and staff triage in the back office."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from incidents.models import PrivacyReport, ReportChallenge, ReportStatus
from incidents.reports import answer_report, move_report
from incidents.tasks import match_report_challenge
from privacy.erasure import erase_subject
from privacy.errors import RevealDenied
from privacy.models import ErasureReason
from privacy.permissions import Purpose
from privacy.reveal import reveal
from privacy.sms import MemorySmsBackend, sms_backend
from tenants.actors import SystemActor
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")
PHONE = "13912345678"
WORDS = "张伟 13800001111 saw my address on the bag"


@pytest.fixture(autouse=True)
def outbox(settings: Any) -> Iterator[list[tuple[str, str]]]:
    settings.BAOMI_SMS_BACKEND = "privacy.sms.MemorySmsBackend"
    sms_backend.cache_clear()
    MemorySmsBackend.outbox.clear()
    yield MemorySmsBackend.outbox
    sms_backend.cache_clear()


def _run_task(client: Client, key: str) -> None:
    challenge = client.session.get(key)
    if challenge:
        match_report_challenge.apply(args=[challenge])  # what the worker does


def _start(client: Client, code: str, ip: str = "203.0.113.7") -> Any:
    response = client.post(
        reverse("incidents:report"), {"order_code": code}, REMOTE_ADDR=ip, HTTP_ACCEPT_LANGUAGE="en"
    )
    _run_task(client, "baomi_report_challenge")
    return response


def _code(outbox: list[tuple[str, str]]) -> str:
    return re.search(r"\b(\d{6})\b", outbox[-1][1]).group(1)


def _file(client: Client, code: str, kind: str = "label", description: str = WORDS) -> Any:
    return client.post(
        reverse("incidents:report-verify"),
        {"code": code, "kind": kind, "description": description},
        HTTP_ACCEPT_LANGUAGE="en",
    )


def _tracking(client: Client) -> str:
    page = client.get(reverse("incidents:report-done"), HTTP_ACCEPT_LANGUAGE="en")
    return re.search(r'id="tracking-code">([^<]+)<', page.content.decode()).group(1)


def _status(client: Client, tracking: str, ip: str = "203.0.113.8") -> Any:
    response = client.post(
        reverse("incidents:status"),
        {"tracking_code": tracking},
        REMOTE_ADDR=ip,
        HTTP_ACCEPT_LANGUAGE="en",
    )
    _run_task(client, "baomi_report_status_challenge")
    return response


def _status_verify(client: Client, code: str) -> Any:
    return client.post(
        reverse("incidents:status-verify"), {"code": code}, HTTP_ACCEPT_LANGUAGE="en"
    )


def _filed(outbox: list, order: Any = None) -> tuple[Any, PrivacyReport, str]:
    order = order or OrderFactory()
    client = Client()
    _start(client, order.code)
    _file(client, _code(outbox))
    tracking = _tracking(client)
    with tenant_scope(order.tenant):
        report = PrivacyReport.objects.get()
    return order, report, tracking


def _reload(report: PrivacyReport) -> PrivacyReport:
    with tenant_scope(report.tenant):
        return PrivacyReport.objects.get(pk=report.pk)


def _events(tenant: Any, action: str) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


# --- The public flow -----------------------------------------------------------------------


def test_a_customer_files_a_report_and_reads_the_staff_answer(
    client: Client, outbox: list, settings: Any
) -> None:
    settings.BAOMI_PRIVACY_REPORT_DAYS = 15
    order = OrderFactory()
    started = _start(client, order.code)
    filed = _file(client, _code(outbox))
    tracking = _tracking(client)
    reloaded = client.get(reverse("incidents:report-done")).content.decode()
    with tenant_scope(order.tenant):
        report = PrivacyReport.objects.get()
    agent = UserFactory(tenant=order.tenant, roles=[Role.CUSTOMER_SERVICE])
    answer_report(report=report, answer="We retrained the packing staff.", actor=agent)
    _status(client, tracking)
    shown = _status_verify(client, _code(outbox))
    page = client.get(shown.url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert (
        started.url,
        filed.url,
        re.fullmatch(r"[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}", tracking) is not None,
        tracking in reloaded,
        outbox[0][0],
        len(outbox),
        report.kind,
        report.subject_id == order.subject_id,
        WORDS.encode() in bytes(report.description_ct),
        tracking.replace("-", "") in report.tracking_hash,
        (report.due_at - report.received_at).days,
        shown.status_code,
        re.search(r'id="report-status">([^<]+)<', page).group(1),
        re.search(r'id="report-answer">([^<]+)<', page).group(1),
    ) == (
        reverse("incidents:report-verify"),
        reverse("incidents:report-done"),
        True,
        False,
        PHONE,
        2,
        "label",
        True,
        False,
        False,
        14,
        302,
        "Answered",
        "We retrained the packing staff.",
    )


def test_the_description_is_sealed_and_revealed_only_through_the_vault(outbox: list) -> None:
    order, report, _ = _filed(outbox)
    officer = UserFactory(tenant=order.tenant, roles=[Role.PRIVACY_OFFICER])
    values = reveal(
        report, fields=["description"], actor=officer, purpose=Purpose.INCIDENT_INVESTIGATION
    )
    assert (values["description"], _events(order.tenant, "privacy.reveal")[-1].fields) == (
        WORDS,
        ["description"],
    )


# Written out by hand: who may read a customer's description, for which purpose.
DESCRIPTION_ALLOWED = {
    (Role.CUSTOMER_SERVICE, Purpose.CUSTOMER_SERVICE_CALL),
    (Role.PRIVACY_OFFICER, Purpose.ERASURE_REQUEST),
    (Role.PRIVACY_OFFICER, Purpose.INCIDENT_INVESTIGATION),
}


@pytest.mark.parametrize("role", list(Role))
def test_description_reveal_matrix(outbox: list, role: Role) -> None:
    order, report, _ = _filed(outbox)
    user = UserFactory(tenant=order.tenant, roles=[role])
    outcome = set()
    for purpose in Purpose:
        try:
            reveal(report, fields=["description"], actor=user, purpose=purpose)
            outcome.add((role, purpose))
        except RevealDenied:
            pass
    assert outcome == {pair for pair in DESCRIPTION_ALLOWED if pair[0] == role}


def test_unknown_order_codes_get_the_same_answer(client: Client, outbox: list) -> None:
    order = OrderFactory()
    known = _start(Client(), order.code)
    stranger = _start(client, "ZZZZZ-ZZZZZ")
    page_known = Client()
    _start(page_known, order.code)
    verify_known = page_known.get(reverse("incidents:report-verify")).content.decode()
    verify_stranger = client.get(reverse("incidents:report-verify")).content.decode()
    strip = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')
    assert (
        {(r.status_code, r.url) for r in (known, stranger)},
        strip.sub("", verify_known) == strip.sub("", verify_stranger),
        len(outbox),
    ) == ({(302, reverse("incidents:report-verify"))}, True, 2)


def test_a_challenge_that_matched_nothing_never_verifies(client: Client, outbox: list) -> None:
    _start(client, "ZZZZZ-ZZZZZ")
    response = _file(client, "123456")
    assert (response.status_code, "attempts left" in response.content.decode()) == (400, True)
    assert ReportChallenge.objects.get().tenant_id is None


def test_a_wrong_code_says_how_many_attempts_remain(client: Client, outbox: list) -> None:
    order = OrderFactory()
    _start(client, order.code)
    right = _code(outbox)
    wrong = "000000" if right != "000000" else "111111"
    response = _file(client, wrong)
    with tenant_scope(order.tenant):
        count = PrivacyReport.objects.count()
    assert (response.status_code, "4 attempts left" in response.content.decode(), count) == (
        400,
        True,
        0,
    )


def test_five_wrong_codes_lock_the_request(client: Client, outbox: list) -> None:
    order = OrderFactory()
    _start(client, order.code)
    right = _code(outbox)
    wrong = "000000" if right != "000000" else "111111"
    statuses = [_file(client, wrong).status_code for _ in range(5)]
    locked = _file(client, right)
    after = _file(client, right)
    with tenant_scope(order.tenant):
        count = PrivacyReport.objects.count()
    assert (statuses, locked.status_code, count) == ([400] * 5, 409, 0)
    assert after.url == reverse("incidents:report")  # the session's challenge is gone


def test_an_expired_code_is_refused(client: Client, outbox: list) -> None:
    order = OrderFactory()
    _start(client, order.code)
    ReportChallenge.objects.update(otp_expires_at=timezone.now() - timedelta(seconds=1))
    assert _file(client, _code(outbox)).status_code == 409


def test_bad_report_input_is_a_400_naming_the_field(client: Client, outbox: list) -> None:
    order = OrderFactory()
    _start(client, order.code)
    code = _code(outbox)
    bad_kind = _file(client, code, kind="nonsense")
    too_long = _file(client, code, description="x" * 2001)
    control = _file(client, code, description="bell\x07")
    ok = _file(client, code, description="")
    with tenant_scope(order.tenant):
        report = PrivacyReport.objects.get()
    assert (
        bad_kind.status_code,
        "Choose what happened." in bad_kind.content.decode(),
        too_long.status_code,
        "At most 2000 characters." in too_long.content.decode(),
        control.status_code,
        ok.status_code,
        bytes(report.description_ct),
    ) == (400, True, 400, True, 400, 302, b"")


def test_a_malformed_order_code_is_a_400(client: Client) -> None:
    response = _start(client, "no")
    assert (response.status_code, "e.g. 7K3Q9-XD2M4" in response.content.decode()) == (400, True)


def test_requests_are_rate_limited_per_order_code(outbox: list) -> None:
    order = OrderFactory()
    statuses = [_start(Client(), order.code, ip=f"203.0.113.{n}").status_code for n in range(1, 8)]
    assert (statuses, len(outbox)) == ([302] * 5 + [429] * 2, 5)


def test_requests_are_rate_limited_per_address(outbox: list) -> None:
    statuses = [_start(Client(), f"ZZZZZ-ZZZ{n:02d}").status_code for n in range(12)]
    assert statuses == [302] * 10 + [429] * 2


def test_the_status_needs_a_fresh_sms_code(client: Client, outbox: list) -> None:
    order, report, tracking = _filed(outbox)
    filing_code = _code(outbox)
    _status(client, tracking)
    reused = _status_verify(client, filing_code)
    fresh = _code(outbox)
    shown = _status_verify(client, fresh)
    again = Client()
    _status(again, tracking)
    replay = _status_verify(again, fresh)
    assert (
        len(outbox),
        reused.status_code,
        shown.status_code,
        replay.status_code,
        fresh != filing_code or True,
    ) == (3, 400, 302, 400, True)


def test_an_unknown_tracking_code_gets_the_same_answer(client: Client, outbox: list) -> None:
    _order, _report, tracking = _filed(outbox)
    known = _status(Client(), tracking)
    unknown = _status(client, "2222-3333-4444")
    wrong = _status_verify(client, "123456")
    assert (
        {(r.status_code, r.url) for r in (known, unknown)},
        len(outbox),
        wrong.status_code,
    ) == ({(302, reverse("incidents:status-verify"))}, 2, 400)


def test_the_status_page_without_a_verified_code_sends_back(client: Client) -> None:
    response = client.get(reverse("incidents:status-show"))
    assert (response.status_code, response.url) == (302, reverse("incidents:status"))


def test_the_status_view_expires(client: Client, outbox: list) -> None:
    _order, _report, tracking = _filed(outbox)
    _status(client, tracking)
    _status_verify(client, _code(outbox))
    ReportChallenge.objects.filter(purpose="status").update(
        verified_at=timezone.now() - timedelta(minutes=11)
    )
    assert client.get(reverse("incidents:status-show")).status_code == 302


def test_nothing_personal_in_urls_session_logs_or_audit(
    client: Client, outbox: list, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    order = OrderFactory()
    started = _start(client, order.code)
    filed = _file(client, _code(outbox))
    session = dict(client.session.items())
    tracking = _tracking(client)
    with tenant_scope(order.tenant):
        events = list(AuditEvent.objects.filter(action__startswith="incidents.privacy_report"))
    challenge = ReportChallenge.objects.get()
    text = caplog.text + str(session) + started.url + filed.url
    assert (
        PHONE in text,
        "13800001111" in text,
        tracking.replace("-", "") in str(session).replace("-", ""),
        [(e.action, sorted(e.details)) for e in events],
        (challenge.otp_hash, challenge.order_code),
    ) == (
        False,
        False,
        False,  # never in the session: a sealed one-time cookie carries it to one page
        [("incidents.privacy_report_received", ["kind", "report"])],
        ("", order.code),
    )
    assert "report_tracking" not in str(dict(client.session.items()))


def test_erasure_makes_the_description_unreadable(outbox: list) -> None:
    order, report, _ = _filed(outbox)
    with tenant_scope(order.tenant):  # staff's answer about the case: cleared with the rest
        PrivacyReport.objects.filter(pk=report.pk).update(answer="Dear customer at 12 Nanjing Rd")
    erase_subject(
        tenant=order.tenant,
        subject_id=order.subject_id,
        reason=ErasureReason.CUSTOMER_REQUEST,
        actor=SystemActor("tests"),
    )
    officer = UserFactory(tenant=order.tenant, roles=[Role.PRIVACY_OFFICER])
    with pytest.raises(Exception):  # noqa: B017 (erased or cleared: either way unreadable)
        reveal(
            _reload(report),
            fields=["description"],
            actor=officer,
            purpose=Purpose.INCIDENT_INVESTIGATION,
        )
    assert _reload(report).answer == ""


# --- Staff triage --------------------------------------------------------------------------


def _page(client: Client, report: PrivacyReport) -> str:
    url = reverse("admin:incidents_privacyreport_change", args=[report.pk])
    return client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()


def _answer(client: Client, report: PrivacyReport, text: str) -> Any:
    url = reverse("admin:incidents_privacyreport_answer", args=[report.pk])
    return client.post(url, {"answer": text}, HTTP_ACCEPT_LANGUAGE="en")


def _move(client: Client, report: PrivacyReport, status: str) -> Any:
    url = reverse("admin:incidents_privacyreport_move", args=[report.pk])
    return client.post(url, {"status": status}, HTTP_ACCEPT_LANGUAGE="en")


@pytest.mark.parametrize(
    ("role", "sees", "triages"),
    [
        (Role.CUSTOMER_SERVICE, True, True),
        (Role.PRIVACY_OFFICER, True, True),
        (Role.SUPERVISOR, True, False),
        (Role.TENANT_ADMIN, False, False),
        (Role.DISPATCHER, False, False),
        (Role.KITCHEN, False, False),
        (Role.PACKER, False, False),
        (Role.RIDER, False, False),
    ],
)
def test_role_matrix_for_triage(
    client: Client, outbox: list, role: Role, sees: bool, triages: bool
) -> None:
    order, report, _ = _filed(outbox)
    client.force_login(UserFactory(tenant=order.tenant, roles=[role]))
    url = reverse("admin:incidents_privacyreport_change", args=[report.pk])
    page = client.get(url)
    posted = _move(client, report, ReportStatus.IN_PROGRESS)
    assert (
        page.status_code == 200,
        'id="answer-form"' in page.content.decode() if page.status_code == 200 else False,
        _reload(report).status == ReportStatus.IN_PROGRESS,
        posted.status_code in (302, 404, 403),
    ) == (sees, triages, triages, True)


def test_staff_answer_and_close_with_prg_and_audit(client: Client, outbox: list) -> None:
    order, report, _ = _filed(outbox)
    client.force_login(UserFactory(tenant=order.tenant, roles=[Role.CUSTOMER_SERVICE]))
    before = _page(client, report)
    moved = _move(client, report, ReportStatus.IN_PROGRESS)
    answered = _answer(client, report, "Handled: the label template is fixed.")
    after = _page(client, report)
    closed = _move(client, report, ReportStatus.CLOSED)
    again = _move(client, report, ReportStatus.CLOSED)
    final = _page(client, report)
    report = _reload(report)
    back = reverse("admin:incidents_privacyreport_change", args=[report.pk])
    assert (
        "Do not write personal data" in before,
        [r.url for r in (moved, answered, closed, again)],
        "The answer is saved" in after,
        "This report cannot move to that status." in final,
        'id="answer-form"' in final,
        (report.status, report.answer, report.closed_at is not None),
        [
            len(_events(order.tenant, f"incidents.privacy_report_{a}"))
            for a in ("moved", "answered", "closed")
        ],
        sorted(_events(order.tenant, "incidents.privacy_report_answered")[0].details),
    ) == (
        True,
        [back] * 4,
        True,
        True,
        False,
        (ReportStatus.CLOSED, "Handled: the label template is fixed.", True),
        [1, 1, 1],
        ["report"],
    )


def test_an_empty_answer_is_a_message(client: Client, outbox: list) -> None:
    order, report, _ = _filed(outbox)
    client.force_login(UserFactory(tenant=order.tenant, roles=[Role.PRIVACY_OFFICER]))
    response = _answer(client, report, "")
    page = _page(client, report)
    assert (response.status_code, "This field is required." in page, _reload(report).answer) == (
        302,
        True,
        "",
    )


def test_staff_reveal_the_description_once_per_form(client: Client, outbox: list) -> None:
    order, report, _ = _filed(outbox)
    client.force_login(UserFactory(tenant=order.tenant, roles=[Role.PRIVACY_OFFICER]))
    page = _page(client, report)
    nonce = re.search(r'name="reveal_nonce" value="([^"]+)"', page).group(1)
    url = reverse("admin:incidents_privacyreport_reveal", args=[report.pk])
    shown = client.post(url, {"reveal_nonce": nonce})
    replay = client.post(url, {"reveal_nonce": nonce})
    events = [e for e in _events(order.tenant, "privacy.reveal") if e.fields != ["phone"]]
    assert (
        shown.status_code,
        "13800001111" in shown.content.decode(),
        replay.status_code,
        [(e.fields, e.purpose) for e in events],
    ) == (200, True, 302, [(["description"], Purpose.INCIDENT_INVESTIGATION.value)])


def test_another_tenants_report_is_a_404(client: Client, outbox: list) -> None:
    _order, report, _ = _filed(outbox)
    client.force_login(UserFactory(tenant=TenantFactory(), roles=[Role.CUSTOMER_SERVICE]))
    page = client.get(reverse("admin:incidents_privacyreport_change", args=[report.pk]))
    assert (
        page.status_code,
        _answer(client, report, "x").status_code,
        _move(client, report, "closed").status_code,
    ) == (404, 404, 404)


def test_overdue_flag_and_filter(client: Client, outbox: list) -> None:
    order, report, _ = _filed(outbox)
    agent = UserFactory(tenant=order.tenant, roles=[Role.CUSTOMER_SERVICE])
    fresh = _reload(report).is_overdue
    with tenant_scope(order.tenant):
        PrivacyReport.objects.filter(pk=report.pk).update(
            due_at=timezone.now() - timedelta(hours=1)
        )
    overdue = _reload(report).is_overdue
    client.force_login(agent)
    url = reverse("admin:incidents_privacyreport_changelist")
    listed = client.get(url, {"deadline": "overdue"}).context["cl"].result_list
    answer_report(report=_reload(report), answer="Done.", actor=agent)
    answered = _reload(report).is_overdue
    after = client.get(url, {"deadline": "overdue"}).context["cl"].result_list
    assert (fresh, overdue, [r.pk for r in listed], answered, list(after)) == (
        False,
        True,
        [report.pk],
        False,
        [],
    )


def test_a_system_actor_may_not_triage(outbox: list) -> None:
    from django.core.exceptions import PermissionDenied

    _order, report, _ = _filed(outbox)
    with pytest.raises(PermissionDenied):
        move_report(report=report, status="closed", actor=SystemActor("tests"))


def test_old_challenges_are_purged_daily(client: Client, outbox: list) -> None:
    from incidents.tasks import purge_report_challenges

    _start(client, "ZZZZZ-ZZZZZ")
    _start(Client(), "ZZZZZ-ZZZZY")
    ReportChallenge.objects.filter(order_code="ZZZZZ-ZZZZZ").update(
        created_at=timezone.now() - timedelta(days=2)
    )
    purge_report_challenges.apply()
    assert list(ReportChallenge.objects.values_list("order_code", flat=True)) == ["ZZZZZ-ZZZZY"]


def test_an_erased_customers_order_gets_the_same_answer_and_no_text(
    client: Client, outbox: list
) -> None:
    order = OrderFactory()
    erase_subject(
        tenant=order.tenant,
        subject_id=order.subject_id,
        reason=ErasureReason.CUSTOMER_REQUEST,
        actor=SystemActor("tests"),
    )
    started = _start(client, order.code)
    filed = _file(client, "123456")
    assert (
        started.url,
        len(outbox),
        filed.status_code,
        ReportChallenge.objects.get().otp_hash,
    ) == (
        reverse("incidents:report-verify"),
        0,
        400,
        "",
    )


# --- Customer service hears of it -------------------------------------------------------------


def test_a_new_report_waits_on_the_order_desk_and_counts_in_its_badge(outbox: list) -> None:
    order, report, _tracking_code = _filed(outbox)
    agent = UserFactory(tenant=order.tenant, roles=[Role.CUSTOMER_SERVICE])
    client = Client()
    client.force_login(agent)
    response = client.get(reverse("admin:orders_order_desk"), HTTP_ACCEPT_LANGUAGE="en")
    queues = {queue.key: table for queue, table in response.context["queues"]}
    html = response.content.decode()
    assert len(queues["privacy-reports"]["rows"]) == 1
    section = html.split("Customers&#x27; privacy reports waiting for an answer", 1)[1]
    assert order.code in section.split("</table>", 1)[0]
    desk_link = html.split(f'href="{reverse("admin:orders_order_desk")}"', 1)[1].split("</a>")[0]
    assert re.search(r">\s*1\s*</span>", desk_link), desk_link
    # Answered: it no longer waits.
    with tenant_scope(order.tenant):
        PrivacyReport.objects.filter(pk=report.pk).update(status="answered")
    response = client.get(reverse("admin:orders_order_desk"), HTTP_ACCEPT_LANGUAGE="en")
    queues = {queue.key: table for queue, table in response.context["queues"]}
    assert queues["privacy-reports"]["rows"] == []


def test_the_tracking_code_is_shown_once_and_the_session_key_changes(outbox: list) -> None:
    order = OrderFactory()
    client = Client()
    _start(client, order.code)
    before = client.session.session_key
    _file(client, _code(outbox))
    after = client.session.session_key
    first = client.get(reverse("incidents:report-done"), HTTP_ACCEPT_LANGUAGE="en")
    again = client.get(reverse("incidents:report-done"), HTTP_ACCEPT_LANGUAGE="en")
    assert (before != after, 'id="tracking-code"' in first.content.decode()) == (True, True)
    assert 'id="tracking-code"' not in again.content.decode()


def test_an_erased_customer_gets_no_report_and_no_500(outbox: list) -> None:
    order = OrderFactory()
    client = Client()
    _start(client, order.code)
    code = _code(outbox)
    erase_subject(
        tenant=order.tenant,
        subject_id=order.subject_id,
        reason=ErasureReason.CUSTOMER_REQUEST,
        actor=SystemActor("tests"),
    )
    for description in (WORDS, ""):
        response = _file(client, code, description=description)
        assert response.status_code in (302, 409)
    with tenant_scope(order.tenant):
        assert PrivacyReport.objects.count() == 0
