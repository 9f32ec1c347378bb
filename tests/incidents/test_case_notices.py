"""Affected customers of a leak case, the customer notice (draft, a privacy officer's
approval, the preview, sending through the SMS backend on a real worker, retries, a drill
that sends nothing) and the regulator document without personal data (issue 18)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from celery.signals import before_task_publish
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from core.errors import Conflict
from incidents.cases import open_case
from incidents.models import (
    AffectedCustomer,
    CaseNotice,
    DeliveryStatus,
    IncidentCase,
    NoticeDelivery,
    NoticeState,
)
from incidents.notices import (
    add_affected_customers,
    approve_notice,
    notice_texts,
    retry_failed,
    save_notice,
    send_notice,
    set_remedy,
)
from incidents.tasks import send_case_notice
from orders.models import Order
from privacy.sms import MemorySmsBackend, sms_backend
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, TenantFactory, UserFactory, verified_second_factor
from tests.gateway_server import Answer, GatewayServer

pytestmark = pytest.mark.django_db(databases="__all__")

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


@pytest.fixture
def tenant() -> Tenant:
    return TenantFactory(name="Good Food")


@pytest.fixture
def officer(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER], username="po-li")


@pytest.fixture
def outbox(settings: Any) -> Iterator[list[tuple[str, str]]]:
    settings.BAOMI_SMS_BACKEND = "privacy.sms.MemorySmsBackend"
    sms_backend.cache_clear()
    MemorySmsBackend.outbox.clear()
    yield MemorySmsBackend.outbox
    sms_backend.cache_clear()


def _case(tenant: Tenant, actor: User, *, drill: bool = False) -> IncidentCase:
    return open_case(
        tenant=tenant,
        title="Rider's phone lost",
        severity="major",
        severity_reason="Labels visible in the phone's photos",
        kind="lost_device",
        data_categories=["name", "address"],
        affected_customers=40,
        discovered_at=timezone.now() - timedelta(hours=1),
        discovered_by="Dispatcher on duty",
        is_drill=drill,
        actor=actor,
    )


def _orders(tenant: Tenant, count: int = 3) -> list[Order]:
    return [OrderFactory(tenant=tenant, customer=dict(CUSTOMERS[i])) for i in range(count)]


def _rows(case: IncidentCase) -> list[AffectedCustomer]:
    with tenant_scope(case.tenant):
        return list(AffectedCustomer.objects.filter(case=case).select_related("order"))


def _deliveries(case: IncidentCase) -> list[NoticeDelivery]:
    with tenant_scope(case.tenant):
        return list(NoticeDelivery.objects.filter(notice__case=case).order_by("pk"))


def _notice(case: IncidentCase) -> CaseNotice:
    with tenant_scope(case.tenant):
        return CaseNotice.objects.get(case=case)


def _events(tenant: Tenant, action: str) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    verified_second_factor(client, user)
    return client


def _ready(tenant: Tenant, officer: User, *, drill: bool = False, count: int = 3) -> IncidentCase:
    """A case with ``count`` linked customers and a drafted notice."""
    case = _case(tenant, officer, drill=drill)
    codes = " ".join(o.code for o in _orders(tenant, count))
    add_affected_customers(case=case, codes=codes, actor=officer)
    save_notice(case=case, values=dict(NOTICE), actor=officer)
    return case


# --- Affected customers -----------------------------------------------------------------


def test_staff_link_customers_by_order_codes(tenant: Tenant, officer: User) -> None:
    case = _case(tenant, officer)
    orders = _orders(tenant, 2)
    added = add_affected_customers(
        case=case,
        codes=f"{orders[0].code},\n {orders[1].code.replace('-', '').lower()}",
        actor=officer,
    )
    rows = _rows(case)
    (event,) = _events(tenant, "incidents.affected_customers_added")
    assert (
        added.added,
        sorted((r.order_id, r.subject_id) for r in rows),
        event.details,
    ) == (
        [orders[0].code, orders[1].code],
        sorted((o.pk, o.subject_id) for o in orders),
        {"case": case.pk, "count": 2, "drill": False},
    )


def test_an_unknown_code_adds_nothing_and_is_named(tenant: Tenant, officer: User) -> None:
    case = _case(tenant, officer)
    (order,) = _orders(tenant, 1)
    with pytest.raises(ValidationError) as error:
        add_affected_customers(case=case, codes=f"{order.code} ZZZZZ-ZZZZZ", actor=officer)
    assert (error.value.message_dict["codes"], _rows(case)) == (
        ["Unknown order codes: ZZZZZ-ZZZZZ. Nothing was added."],
        [],
    )


def test_another_tenants_order_code_is_unknown(tenant: Tenant, officer: User) -> None:
    case = _case(tenant, officer)
    (theirs,) = _orders(TenantFactory(), 1)
    with pytest.raises(ValidationError) as error:
        add_affected_customers(case=case, codes=theirs.code, actor=officer)
    assert error.value.message_dict["codes"] == [
        f"Unknown order codes: {theirs.code}. Nothing was added."
    ]


def test_entries_that_are_not_order_codes_are_counted_never_repeated(
    tenant: Tenant, officer: User
) -> None:
    case = _case(tenant, officer)
    with pytest.raises(ValidationError) as error:
        add_affected_customers(case=case, codes="13800001111 张伟", actor=officer)
    assert error.value.message_dict["codes"] == [
        "2 entries are not order codes (e.g. 7K3Q9-XD2M4). Nothing was added."
    ]


def test_a_customer_already_linked_is_reported_not_added_again(
    tenant: Tenant, officer: User
) -> None:
    case = _case(tenant, officer)
    (order,) = _orders(tenant, 1)
    second = OrderFactory(
        tenant=tenant, customer=dict(CUSTOMERS[0])
    )  # the same phone: same subject
    first = add_affected_customers(case=case, codes=f"{order.code} {order.code}", actor=officer)
    again = add_affected_customers(case=case, codes=f"{order.code} {second.code}", actor=officer)
    assert (first.added, again.added, again.already, len(_rows(case))) == (
        [order.code],
        [],
        [order.code, second.code],
        1,
    )


def test_only_case_managers_link_customers(tenant: Tenant, officer: User) -> None:
    case = _case(tenant, officer)
    (order,) = _orders(tenant, 1)
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    with pytest.raises(PermissionDenied):
        add_affected_customers(case=case, codes=order.code, actor=agent)


def test_a_remedy_is_set_per_customer_and_audited(tenant: Tenant, officer: User) -> None:
    case = _ready(tenant, officer, count=1)
    (row,) = _rows(case)
    set_remedy(
        case=case,
        customer_id=row.pk,
        remedy_kind="compensation",
        remedy_amount="50.00",
        remedy_status="offered",
        apology_sent=True,
        actor=officer,
    )
    (saved,) = _rows(case)
    (event,) = _events(tenant, "incidents.remedy_set")
    assert (
        saved.remedy_kind,
        saved.remedy_amount,
        saved.remedy_currency,
        saved.remedy_status,
        saved.apology_sent,
        event.details,
    ) == (
        "compensation",
        Decimal("50.00"),
        "CNY",
        "offered",
        True,
        {
            "case": case.pk,
            "customer": row.pk,
            "remedy": "compensation",
            "status": "offered",
            "apology": True,
        },
    )


@pytest.mark.parametrize(
    ("kind", "amount", "status", "field", "message"),
    [
        ("refund", "-1", "offered", "remedy_amount", "Give an amount from 0 to 1,000,000."),
        ("refund", "1.234", "offered", "remedy_amount", "At most two decimal places."),
        ("refund", "abc", "offered", "remedy_amount", "Give an amount such as 50.00."),
        (
            "none",
            "5",
            "none",
            "remedy_kind",
            "Choose a remedy before giving an amount or a status.",
        ),
        ("bribe", "", "offered", "remedy_kind", "Choose a remedy."),
    ],
)
def test_a_bad_remedy_is_refused_by_field(
    tenant: Tenant, officer: User, kind: str, amount: str, status: str, field: str, message: str
) -> None:
    case = _ready(tenant, officer, count=1)
    (row,) = _rows(case)
    with pytest.raises(ValidationError) as error:
        set_remedy(
            case=case,
            customer_id=row.pk,
            remedy_kind=kind,
            remedy_amount=amount,
            remedy_status=status,
            apology_sent=False,
            actor=officer,
        )
    assert error.value.message_dict[field] == [message]


def test_another_cases_customer_is_not_found(tenant: Tenant, officer: User) -> None:
    case = _ready(tenant, officer, count=1)
    other = _case(tenant, officer)
    (row,) = _rows(case)
    with pytest.raises(Http404):
        set_remedy(
            case=other,
            customer_id=row.pk,
            remedy_kind="refund",
            remedy_amount="10",
            remedy_status="paid",
            apology_sent=False,
            actor=officer,
        )


# --- The notice -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "approved"),
    [(Role.PRIVACY_OFFICER, True), (Role.SUPERVISOR, False), (Role.TENANT_ADMIN, False)],
)
def test_only_a_privacy_officer_approves_the_notice(
    tenant: Tenant, officer: User, role: Role, approved: bool
) -> None:
    case = _ready(tenant, officer)
    approver = UserFactory(tenant=tenant, roles=[role])
    outcome = "approved"
    try:
        approve_notice(case=case, actor=approver)
    except PermissionDenied as error:
        outcome = str(error)
    assert (outcome, _notice(case).state) == (
        ("approved", NoticeState.APPROVED)
        if approved
        else ("Only a privacy officer approves a customer notice.", NoticeState.DRAFT)
    )


def test_approving_makes_one_pending_delivery_per_linked_customer(
    tenant: Tenant, officer: User
) -> None:
    case = _ready(tenant, officer)
    approve_notice(case=case, actor=officer)
    (event,) = _events(tenant, "incidents.notice_approved")
    assert ([d.status for d in _deliveries(case)], event.details["count"]) == (
        ["pending"] * 3,
        3,
    )


def test_an_approved_notice_cannot_be_edited(tenant: Tenant, officer: User) -> None:
    case = _ready(tenant, officer)
    approve_notice(case=case, actor=officer)
    with pytest.raises(Conflict) as error:
        save_notice(case=case, values={**NOTICE, "cause_en": "Changed"}, actor=officer)
    assert (str(error.value), _notice(case).cause_en) == (
        "The notice is approved: it can no longer be edited.",
        "A rider lost a phone",
    )


def test_a_notice_needs_every_part(tenant: Tenant, officer: User) -> None:
    case = _case(tenant, officer)
    with pytest.raises(ValidationError) as error:
        save_notice(case=case, values={**NOTICE, "harm_zh": " ", "contact": "a\nb"}, actor=officer)
    assert error.value.message_dict == {
        "harm_zh": ["This field is required."],
        "contact": ["Must not contain control characters."],
    }


def test_the_preview_shows_both_texts_with_every_part_and_an_apology(
    tenant: Tenant, officer: User
) -> None:
    case = _ready(tenant, officer)
    texts = notice_texts(_notice(case))
    assert texts == {
        "zh": (
            "【Good Food】个人信息安全事件通知\n"
            "我们很抱歉地告知您：您的以下个人信息可能受到影响：姓名、地址。\n"
            "原因：配送员丢失了一部手机\n"
            "可能的影响：他人可能看到您的地址\n"
            "我们已采取的措施：我们已远程锁定该手机\n"
            "您可以采取的措施：如遇可疑来访请报警\n"
            "联系我们：privacy@example.com / 400-800-1234\n"
            "对此给您带来的困扰，我们深表歉意。"
        ),
        "en": (
            "[Good Food] Notice of a personal data incident\n"
            "We are sorry to tell you that the following personal data of yours may be "
            "affected: name, address.\n"
            "Cause: A rider lost a phone\n"
            "Possible harm: Someone may see your address\n"
            "What we have done: We locked the phone remotely\n"
            "What you can do: Call the police if a stranger visits\n"
            "Contact: privacy@example.com / 400-800-1234\n"
            "We sincerely apologise for this."
        ),
    }


def test_the_case_page_shows_customers_by_code_and_reference_and_the_preview(
    tenant: Tenant, officer: User
) -> None:
    case = _ready(tenant, officer)
    page = (
        _client(officer)
        .get(
            reverse("admin:incidents_incidentcase_change", args=[case.pk]),
            HTTP_ACCEPT_LANGUAGE="en",
        )
        .content.decode()
    )
    rows = _rows(case)
    shown = [r.order.code in page and r.subject_reference in page for r in rows]
    leaked = [v for c in CUSTOMERS for v in c.values() if v in page]
    assert (
        shown,
        leaked,
        "3 customers linked, of 40 declared on the case." in page,
        "对此给您带来的困扰，我们深表歉意。" in page,
        "Approve and send" in page,
    ) == ([True] * 3, [], True, True, True)


def test_a_supervisors_approval_is_refused_with_a_message(tenant: Tenant, officer: User) -> None:
    case = _ready(tenant, officer)
    supervisor = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    client = _client(supervisor)
    response = client.post(
        reverse("admin:incidents_incidentcase_notice_approve", args=[case.pk]),
        HTTP_ACCEPT_LANGUAGE="en",
        follow=True,
    )
    page = response.content.decode()
    assert (
        response.status_code,
        "Only a privacy officer approves a customer notice." in page,
        "Approve and send" in page,
        _notice(case).state,
    ) == (200, True, False, NoticeState.DRAFT)


def test_linking_through_the_page_reports_unknown_codes(tenant: Tenant, officer: User) -> None:
    case = _case(tenant, officer)
    (order,) = _orders(tenant, 1)
    response = _client(officer).post(
        reverse("admin:incidents_incidentcase_affected_add", args=[case.pk]),
        {"codes": f"{order.code} AAAAA-BBBBB"},
        HTTP_ACCEPT_LANGUAGE="en",
        follow=True,
    )
    assert (
        response.status_code,
        "Unknown order codes: AAAAA-BBBBB. Nothing was added." in response.content.decode(),
        _rows(case),
    ) == (200, True, [])


def test_the_task_is_queued_with_ids_only(
    tenant: Tenant, officer: User, django_capture_on_commit_callbacks: Any
) -> None:
    case = _ready(tenant, officer)
    published: list[Any] = []

    def record(sender: str, body: Any, **kwargs: Any) -> None:
        if sender == send_case_notice.name:
            published.append(list(body[0]))

    before_task_publish.connect(record)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            notice = approve_notice(case=case, actor=officer)
    finally:
        before_task_publish.disconnect(record)
    assert published == [[tenant.pk, notice.pk]]


# --- Sending ----------------------------------------------------------------------------


def test_sending_texts_each_customer_once_and_records_the_notification(
    tenant: Tenant, officer: User, outbox: list
) -> None:
    case = _ready(tenant, officer)
    approve_notice(case=case, actor=officer)
    send_case_notice.apply(args=[tenant.pk, _notice(case).pk])
    send_case_notice.apply(args=[tenant.pk, _notice(case).pk])  # a second run sends nothing
    rows = _rows(case)
    reveals = [e for e in _events(tenant, "privacy.reveal") if e.purpose == "incident_notice"]
    assert (
        sorted(phone for phone, _text in outbox),
        {text.startswith("【Good Food】") and "[Good Food]" in text for _phone, text in outbox},
        [(r.channel, r.notified_at is not None, r.apology_sent) for r in rows],
        _notice(case).state,
        len(reveals),
    ) == (
        sorted(c["phone"] for c in CUSTOMERS),
        {True},
        [("sms", True, True)] * 3,
        NoticeState.SENT,
        3,
    )


def test_a_drill_sends_nothing(tenant: Tenant, officer: User, outbox: list) -> None:
    case = _ready(tenant, officer, drill=True)
    approve_notice(case=case, actor=officer)
    send_case_notice.apply(args=[tenant.pk, _notice(case).pk])
    page = (
        _client(officer)
        .get(
            reverse("admin:incidents_incidentcase_change", args=[case.pk]),
            HTTP_ACCEPT_LANGUAGE="en",
        )
        .content.decode()
    )
    assert (
        outbox,
        [d.status for d in _deliveries(case)],
        [r.notified_at for r in _rows(case)],
        _notice(case).state,
        "Drill — not sent: 3" in page,
    ) == ([], ["drill"] * 3, [None] * 3, NoticeState.SENT, True)


@pytest.fixture
def gateway(settings: Any) -> Iterator[GatewayServer]:
    with GatewayServer() as server:
        settings.BAOMI_SMS_BACKEND = "privacy.sms.HttpSmsBackend"
        settings.BAOMI_SMS_GATEWAY = server.config(retries=0)
        sms_backend.cache_clear()
        yield server
        sms_backend.cache_clear()


def test_failed_texts_are_listed_and_the_retry_button_sends_them(
    tenant: Tenant, officer: User, gateway: GatewayServer
) -> None:
    case = _ready(tenant, officer, count=2)
    approve_notice(case=case, actor=officer)
    gateway.answer(Answer(status=503), Answer(status=503))
    with tenant_scope(tenant):
        first = send_notice(notice_id=_notice(case).pk)
    failed = [(d.status, d.attempts, d.error) for d in _deliveries(case)]
    client = _client(officer)
    page = client.get(
        reverse("admin:incidents_incidentcase_change", args=[case.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    client.post(reverse("admin:incidents_incidentcase_notice_retry", args=[case.pk]))
    with tenant_scope(tenant):
        second = send_notice(notice_id=_notice(case).pk)
    assert (
        (first.failed, first.retry),
        failed,
        "Retry failed" in page and "GatewayError" in page,
        second.sent,
        [d.status for d in _deliveries(case)],
        len(gateway.requests),
        _notice(case).state,
    ) == (
        (2, True),
        [("failed", 1, "GatewayError")] * 2,
        True,
        2,
        ["sent", "sent"],
        4,
        NoticeState.SENT,
    )


def test_retrying_needs_a_failed_delivery(tenant: Tenant, officer: User, outbox: list) -> None:
    case = _ready(tenant, officer)
    approve_notice(case=case, actor=officer)
    with pytest.raises(Conflict, match="No delivery has failed."):
        retry_failed(case=case, actor=officer)


def _wait(condition: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("the worker did not finish in time")


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_a_real_worker_texts_every_customer_exactly_once(worker: str, outbox: list) -> None:
    tenant = TenantFactory(name="Good Food")
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    case = _ready(tenant, officer)
    approve_notice(case=case, actor=officer)
    notice_id = _notice(case).pk
    send_case_notice.apply_async(args=[tenant.pk, notice_id], queue=worker)
    send_case_notice.apply_async(args=[tenant.pk, notice_id], queue=worker)  # run twice
    _wait(lambda: _notice(case).state == NoticeState.SENT)
    time.sleep(0.5)  # the second run has had its chance
    assert (sorted(phone for phone, _text in outbox), {d.status for d in _deliveries(case)}) == (
        sorted(c["phone"] for c in CUSTOMERS),
        {DeliveryStatus.SENT},
    )


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_a_real_worker_retries_failed_texts_until_they_are_sent(
    worker: str, gateway: GatewayServer, settings: Any
) -> None:
    settings.BAOMI_NOTICE_RETRY_SECONDS = 1
    tenant = TenantFactory(name="Good Food")
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    case = _ready(tenant, officer, count=2)
    approve_notice(case=case, actor=officer)
    gateway.answer(Answer(status=503), Answer(status=503))
    send_case_notice.apply_async(args=[tenant.pk, _notice(case).pk], queue=worker)
    _wait(lambda: _notice(case).state == NoticeState.SENT)
    phones = sorted(r.json()["to"] for r in gateway.requests)
    assert (
        [(d.status, d.attempts) for d in _deliveries(case)],
        phones,
    ) == (
        [("sent", 2)] * 2,
        sorted([CUSTOMERS[0]["phone"], CUSTOMERS[1]["phone"]] * 2),
    )


# --- The regulator document -------------------------------------------------------------


def _document(client: Client, case: IncidentCase) -> Any:
    return client.get(
        reverse("admin:incidents_incidentcase_regulator_document", args=[case.pk]),
        HTTP_ACCEPT_LANGUAGE="en",
    )


def test_the_regulator_document_holds_no_customer_data(
    tenant: Tenant, officer: User, outbox: list
) -> None:
    case = _ready(tenant, officer)
    approve_notice(case=case, actor=officer)
    send_case_notice.apply(args=[tenant.pk, _notice(case).pk])
    response = _document(_client(officer), case)
    page = response.content.decode()
    values = [v for c in CUSTOMERS for v in c.values()] + [r.order.code for r in _rows(case)]
    (event,) = _events(tenant, "incidents.regulator_document_produced")
    assert (
        response.status_code,
        [v for v in values if v in page],
        case.code in page,
        "po-li (Privacy officer)" in page,
        "Customers notified</th><td>3<" in page,
        "style=" in page or "<script>" in page,
        "DRILL" in page,
        event.details,
    ) == (200, [], True, True, True, False, False, {"case": case.pk, "drill": False})


def test_a_drills_document_is_stamped_drill(tenant: Tenant, officer: User) -> None:
    case = _ready(tenant, officer, drill=True)
    page = _document(_client(officer), case).content.decode()
    assert 'id="drill-stamp"' in page


@pytest.mark.parametrize("who", ["other tenant's officer", "customer service"])
def test_the_regulator_document_is_404_for_others(tenant: Tenant, officer: User, who: str) -> None:
    case = _ready(tenant, officer, count=1)
    other = (
        UserFactory(tenant=TenantFactory(), roles=[Role.PRIVACY_OFFICER])
        if who == "other tenant's officer"
        else UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    )
    assert _document(_client(other), case).status_code == 404


def test_a_customer_linked_after_approval_gets_the_notice_too(
    tenant: Tenant, officer: User, outbox: list
) -> None:
    case = _ready(tenant, officer, count=2)
    approve_notice(case=case, actor=officer)
    send_case_notice.apply(args=[tenant.pk, _notice(case).pk])
    late = OrderFactory(tenant=tenant, customer=dict(CUSTOMERS[2]))
    add_affected_customers(case=case, codes=late.code, actor=officer)
    send_case_notice.apply(args=[tenant.pk, _notice(case).pk])
    assert (sorted(phone for phone, _text in outbox), _notice(case).state) == (
        sorted(c["phone"] for c in CUSTOMERS),
        NoticeState.SENT,
    )


def test_a_bad_remedy_through_the_page_is_a_message(tenant: Tenant, officer: User) -> None:
    case = _ready(tenant, officer, count=1)
    (row,) = _rows(case)
    response = _client(officer).post(
        reverse("admin:incidents_incidentcase_remedy", args=[case.pk, row.pk]),
        {"remedy_kind": "none", "remedy_amount": "5", "remedy_status": "none"},
        HTTP_ACCEPT_LANGUAGE="en",
        follow=True,
    )
    assert (
        response.status_code,
        "Choose a remedy before giving an amount or a status." in response.content.decode(),
        _rows(case)[0].remedy_amount,
    ) == (200, True, None)
