"""Every role × every incident action of the back office × own/other tenant (issue 18).

The expectations are written out here by hand, as a policy table: they are the policy under
test, not a copy of the code's checks. Each cell posts (or gets) the action's URL as a user
of one role, then checks whether the action took effect. A refused action changes nothing;
another tenant's case, anomaly, report or notification is a 404 on every URL, never a 403
that would confirm it exists. A rider has no back office at all: every admin URL is the
login redirect, the same for any id.

To stay fast, the two tenants, a user of each role and every action's object are built
once for the module inside a transaction that is rolled back at its end; each cell runs in
its own savepoint (pytest-django's), so what one cell changes no other sees."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from incidents import anomaly_actions
from incidents.case_actions import case_of_report
from incidents.cases import contain, open_case
from incidents.investigation import add_evidence
from incidents.models import (
    AffectedCustomer,
    AnomalyKind,
    CaseNotice,
    CaseReport,
    EvidenceFile,
    IncidentCase,
    IncidentProfile,
    InvestigationItem,
    NoticeDelivery,
    NoticeState,
    OrderAnomaly,
    PrivacyReport,
)
from incidents.notices import add_affected_customers, approve_notice, save_notice
from incidents.services import report_anomaly
from incidents.staff_notifications import ANOMALY_OPENED
from orders.models import Order
from privacy.api import seal
from tenants.actors import SystemActor
from tenants.models import Notification, Role, Tenant, User, UserSuspension
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, TenantFactory, UserFactory
from tests.riders.conftest import make_rider

pytestmark = pytest.mark.django_db(databases="__all__")

PO, SUP, TA = Role.PRIVACY_OFFICER, Role.SUPERVISOR, Role.TENANT_ADMIN
CS, DISP = Role.CUSTOMER_SERVICE, Role.DISPATCHER
CASE_MANAGERS = {PO, SUP, TA}
STAFF = {TA, CS, DISP, Role.KITCHEN, Role.PACKER, SUP, PO}  # every role but the rider

# The policy: who may do each action in their own tenant.
POLICY: dict[str, set[str]] = {
    # The case and its containment, clocks, grade and key.
    "case_add": CASE_MANAGERS,
    "case_move": CASE_MANAGERS,
    "contain": CASE_MANAGERS,
    "report_made": CASE_MANAGERS,
    "regrade": CASE_MANAGERS,
    "rotate_key": CASE_MANAGERS,
    "lift_suspension": CASE_MANAGERS,
    # The investigation.
    "investigation_audit_event": CASE_MANAGERS,
    "investigation_staff": CASE_MANAGERS,
    "investigation_finding": CASE_MANAGERS,
    "evidence_upload": CASE_MANAGERS,
    "evidence_download": CASE_MANAGERS,
    # Affected customers, the notice and the regulator's document.
    "affected_add": CASE_MANAGERS,
    "remedy": CASE_MANAGERS,
    "notice_save": CASE_MANAGERS,
    "notice_approve": {PO},  # only a privacy officer approves a customer notice
    "notice_retry": CASE_MANAGERS,
    "regulator_document": CASE_MANAGERS,
    # The tenant's reporting profile: its administrator only.
    "profile": {TA},
    # Order anomalies: resolved by customer service and administrators, assigned by them and
    # supervisors, promoted by case managers who see anomalies, followed up by customer service.
    "anomaly_resolve": {CS, TA},
    "anomaly_assign": {CS, TA, SUP},
    "anomaly_promote": CASE_MANAGERS,
    "anomaly_correct": {CS},
    "anomaly_remake": {CS},
    "anomaly_call": {CS},
    # Customers' privacy reports: triaged by customer service and privacy officers; promoted
    # by the case managers who see reports (a tenant administrator does not see them).
    "report_answer": {CS, PO},
    "report_move": {CS, PO},
    "report_reveal": {CS, PO},
    "report_promote": {PO, SUP},
    # Back-office notifications: every staff member's own inbox.
    "inbox": STAFF,
    "notification_read": STAFF,
}
ACTIONS = list(POLICY)
# Actions on no object of a tenant: there is no "other tenant's" variant.
NO_OBJECT = {"case_add", "inbox"}

CELLS = [
    (role, action, tenant)
    for role in Role.values
    for action in ACTIONS
    for tenant in ("own", "other")
    if not (tenant == "other" and action in NO_OBJECT)
]


@dataclass
class Cell:
    """One action ready to run: its URL, how it is sent, and whether it took effect."""

    url: str
    effect: Callable[[Any], bool]
    data: dict[str, Any] = field(default_factory=dict)
    method: str = "post"
    before: Callable[[Client], dict[str, Any]] | None = None


def _officer(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[PO])


def _case(tenant: Tenant, **overrides: Any) -> IncidentCase:
    values: dict[str, Any] = {
        "title": "Rider's phone lost",
        "severity": "major",
        "severity_reason": "Labels visible in the phone's photos",
        "kind": "lost_device",
        "data_categories": ["name", "address"],
        "affected_customers": 3,
        "discovered_at": timezone.now() - timedelta(hours=1),
        "discovered_by": "Dispatcher on duty",
        "is_drill": False,
    }
    values.update(overrides)
    return open_case(tenant=tenant, actor=_officer(tenant), **values)


def _case_url(name: str, case: IncidentCase, *more: int) -> str:
    return reverse(f"admin:incidents_incidentcase_{name}", args=[case.pk, *more])


def _scoped(tenant: Tenant, query: Callable[[], Any]) -> Any:
    with tenant_scope(tenant):
        return query()


def _events(tenant: Tenant, action: str, **details: int) -> int:
    """How many ``action`` events of the tenant name these ids (``case=...``)."""
    filters = {f"details__{key}": value for key, value in details.items()}
    return _scoped(tenant, lambda: AuditEvent.objects.filter(action=action, **filters).count())


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
    "contact": "privacy@example.com",
}


def _noticed(tenant: Tenant) -> IncidentCase:
    """A case with one linked customer and a drafted notice."""
    case = _case(tenant)
    officer = _officer(tenant)
    add_affected_customers(case=case, codes=OrderFactory(tenant=tenant).code, actor=officer)
    save_notice(case=case, values=dict(NOTICE), actor=officer)
    return case


def _notice_state(case: IncidentCase) -> str:
    return str(_scoped(case.tenant, lambda: CaseNotice.objects.get(case=case).state))


def _anomaly(tenant: Tenant, kind: AnomalyKind = AnomalyKind.LOST) -> OrderAnomaly:
    return report_anomaly(order=OrderFactory(tenant=tenant), kind=kind, actor=SystemActor("tests"))


def _anomaly_now(anomaly: OrderAnomaly) -> OrderAnomaly:
    return _scoped(anomaly.tenant, lambda: OrderAnomaly.objects.get(pk=anomaly.pk))


def _anomaly_url(name: str, anomaly: OrderAnomaly) -> str:
    return reverse(f"admin:incidents_orderanomaly_{name}", args=[anomaly.pk])


def _report(tenant: Tenant, *, sealed: bool = False) -> PrivacyReport:
    order = OrderFactory(tenant=tenant)
    with tenant_scope(tenant):
        report = PrivacyReport(
            tenant=tenant,
            order=order,
            subject_id=order.subject_id,
            kind="label",
            tracking_hash="0" * 64,
            due_at=timezone.now() + timedelta(days=15),
        )
        report.save()
        if sealed:
            report.description_ct = seal(report, "description", "我在楼道里看到了我的标签")
            report.save(update_fields=["description_ct"])
        return PrivacyReport.objects.get(pk=report.pk)


def _report_now(report: PrivacyReport) -> PrivacyReport:
    return _scoped(report.tenant, lambda: PrivacyReport.objects.get(pk=report.pk))


def _report_url(name: str, report: PrivacyReport) -> str:
    return reverse(f"admin:incidents_privacyreport_{name}", args=[report.pk])


def _reveal_nonce(report: PrivacyReport) -> Callable[[Client], dict[str, Any]]:
    def before(client: Client) -> dict[str, Any]:
        page = client.get(reverse("admin:incidents_privacyreport_change", args=[report.pk]))
        nonce = (page.context or {}).get("reveal_nonce", "") if page.status_code == 200 else ""
        return {"reveal_nonce": nonce}

    return before


def _notification(user: User) -> Notification:
    with tenant_scope(user.tenant):
        notification = Notification(
            tenant=user.tenant,
            user=user,
            kind=ANOMALY_OPENED,
            params={"order": "ABCDE-FGHJK", "kind": "lost"},
            link="/admin/",
        )
        notification.save(force_insert=True)
    return notification


def _build(action: str, target: Tenant, actor: User) -> Cell:
    """The action's object in ``target`` (the actor's tenant or another), ready to run."""
    if action == "case_add":
        now = timezone.localtime()
        return Cell(
            reverse("admin:incidents_incidentcase_add"),
            lambda _r: (
                _scoped(
                    target,
                    lambda: IncidentCase.objects.filter(
                        title="Label sent to the wrong printer"
                    ).count(),
                )
                == 1
            ),
            {
                "title": "Label sent to the wrong printer",
                "severity": "general",
                "severity_reason": "One label, recovered",
                "kind": "mis_sent_label",
                "data_categories": ["name"],
                "affected_customers": "1",
                "discovered_at_0": now.strftime("%Y-%m-%d"),
                "discovered_at_1": now.strftime("%H:%M:%S"),
                "discovered_by": "Packer on shift",
            },
        )
    if action == "inbox":
        _notification(actor)
        return Cell(
            reverse("admin:tenants_notification_changelist"),
            lambda r: r.status_code == 200 and "items" in (r.context or {}),
            method="get",
        )
    if action == "notification_read":
        owner = actor if target == actor.tenant else UserFactory(tenant=target, roles=[CS])
        notification = _notification(owner)
        return Cell(
            reverse("admin:tenants_notification_read", args=[notification.pk]),
            lambda _r: _scoped(
                target, lambda: Notification.objects.get(pk=notification.pk).read_at is not None
            ),
        )
    if action.startswith("anomaly_"):
        return _anomaly_cell(action, target)
    if action.startswith("report_") and action != "report_made":
        return _report_cell(action, target)
    if action == "profile":
        with tenant_scope(target):
            profile = IncidentProfile(tenant=target)
            profile.save()
        return Cell(
            reverse("admin:incidents_incidentprofile_change", args=[profile.pk]),
            lambda _r: (
                _scoped(target, lambda: IncidentProfile.objects.get().jurisdiction) == "gdpr"
            ),
            {"jurisdiction": "gdpr", "critical_infrastructure": ""},
        )
    return _case_cell(action, target)


def _case_cell(action: str, target: Tenant) -> Cell:
    case = _noticed(target) if action in ("notice_approve", "notice_retry") else _case(target)
    if action == "case_move":
        return Cell(
            _case_url("move", case),
            lambda _r: (
                _scoped(target, lambda: IncidentCase.objects.get(pk=case.pk).state) == "contained"
            ),
            {"to": "contained", "note": ""},
        )
    if action == "contain":
        user = UserFactory(tenant=target, roles=[Role.PACKER])
        return Cell(
            _case_url("contain", case),
            lambda _r: _events(target, "incidents.containment_done", case=case.pk) == 1,
            {"action": "end_sessions", "target": f"user-{user.pk}", "reason": "phone lost"},
        )
    if action == "report_made":
        report = _scoped(target, lambda: CaseReport.objects.get(case=case))
        return Cell(
            _case_url("report_made", case, report.pk),
            lambda _r: (
                _scoped(target, lambda: CaseReport.objects.get(pk=report.pk).made_at) is not None
            ),
            {"reference": "CAC-2026-0042"},
        )
    if action == "regrade":
        return Cell(
            _case_url("regrade", case),
            lambda _r: (
                _scoped(target, lambda: IncidentCase.objects.get(pk=case.pk).severity) == "serious"
            ),
            {
                "severity": "serious",
                "severity_reason": "More labels found",
                "kind": "lost_device",
                "data_categories": ["name", "address"],
                "affected_customers": "300",
                "discovered_at": timezone.localtime(case.discovered_at).strftime("%Y-%m-%dT%H:%M"),
            },
        )
    if action == "rotate_key":
        return Cell(
            _case_url("rotate_key", case),
            lambda _r: _events(target, "incidents.key_rotation_started", case=case.pk) == 1,
            {"reason": "the key may have leaked"},
        )
    if action == "lift_suspension":
        rider = make_rider(target)
        contain(
            case=case,
            action="suspend_dispatch",
            target_id=rider.user_id,
            reason="shared labels",
            actor=_officer(target),
        )
        suspension = _scoped(target, lambda: UserSuspension.objects.get(user_id=rider.user_id))
        return Cell(
            _case_url("lift", case, suspension.pk),
            lambda _r: (
                _scoped(target, lambda: UserSuspension.objects.get(pk=suspension.pk).lifted_at)
                is not None
            ),
        )
    if action.startswith("investigation_"):
        items = lambda _r: _scoped(  # noqa: E731
            target, lambda: InvestigationItem.objects.filter(case=case).count()
        )
        if action == "investigation_audit_event":
            event = _scoped(
                target, lambda: AuditEvent.objects.filter(action="incidents.case_opened").first()
            )
            return Cell(
                _case_url("investigation_event", case), lambda r: items(r) == 1, {"event": event.pk}
            )
        if action == "investigation_staff":
            user = UserFactory(tenant=target, roles=[Role.PACKER])
            return Cell(
                _case_url("investigation_staff", case), lambda r: items(r) == 1, {"staff": user.pk}
            )
        return Cell(
            _case_url("investigation_finding", case),
            lambda r: items(r) == 1,
            {"text": "The phone had no screen lock"},
        )
    if action == "evidence_upload":
        return Cell(
            _case_url("evidence_upload", case),
            lambda _r: _scoped(target, lambda: EvidenceFile.objects.filter(case=case).count()) == 1,
            {"file": SimpleUploadedFile("log.txt", b"route 3, 14:02, phone lost")},
        )
    if action == "evidence_download":
        evidence = add_evidence(
            case=case,
            name="log.txt",
            source=io.BytesIO(b"route 3"),
            size=7,
            actor=_officer(target),
        )
        return Cell(
            _case_url("evidence_download", case, evidence.pk),
            lambda r: r.status_code == 200 and r.content == b"route 3",
            method="get",
        )
    if action == "affected_add":
        order = OrderFactory(tenant=target)
        return Cell(
            _case_url("affected_add", case),
            lambda _r: (
                _scoped(target, lambda: AffectedCustomer.objects.filter(case=case).count()) == 1
            ),
            {"codes": order.code},
        )
    if action == "remedy":
        add_affected_customers(
            case=case, codes=OrderFactory(tenant=target).code, actor=_officer(target)
        )
        row = _scoped(target, lambda: AffectedCustomer.objects.get(case=case))
        return Cell(
            _case_url("remedy", case, row.pk),
            lambda _r: (
                _scoped(target, lambda: AffectedCustomer.objects.get(pk=row.pk).remedy_kind)
                == "voucher"
            ),
            {"remedy_kind": "voucher", "remedy_amount": "20", "remedy_status": "offered"},
        )
    if action == "notice_save":
        return Cell(
            _case_url("notice", case),
            lambda _r: _scoped(target, lambda: CaseNotice.objects.filter(case=case).exists()),
            dict(NOTICE),
        )
    if action == "notice_approve":
        return Cell(
            _case_url("notice_approve", case),
            lambda _r: _notice_state(case) != NoticeState.DRAFT,
        )
    if action == "notice_retry":
        approve_notice(case=case, actor=_officer(target))
        with tenant_scope(target):
            NoticeDelivery.objects.filter(notice__case=case).update(status="failed")
        return Cell(
            _case_url("notice_retry", case),
            lambda _r: _events(target, "incidents.notice_retried", case=case.pk) == 1,
        )
    assert action == "regulator_document"
    return Cell(
        _case_url("regulator_document", case),
        lambda r: r.status_code == 200 and case.code in r.content.decode(),
        method="get",
    )


def _anomaly_cell(action: str, target: Tenant) -> Cell:
    kind = AnomalyKind.WRONG_ADDRESS if action in ("anomaly_correct", "anomaly_call") else None
    anomaly = _anomaly(target, kind or AnomalyKind.LOST)
    if action == "anomaly_resolve":
        return Cell(
            _anomaly_url("resolve", anomaly),
            lambda _r: not _anomaly_now(anomaly).is_open,
            {"outcome": "refunded", "note": "refunded"},
        )
    if action == "anomaly_assign":
        agent = UserFactory(tenant=target, roles=[CS])
        return Cell(
            _anomaly_url("assign", anomaly),
            lambda _r: _anomaly_now(anomaly).assigned_to == f"user:{agent.pk}",
            {"assignee": str(agent.pk)},
        )
    if action == "anomaly_promote":
        return Cell(
            _anomaly_url("promote", anomaly),
            lambda _r: _scoped(
                target, lambda: IncidentCase.objects.filter(anomaly=anomaly).exists()
            ),
        )
    if action == "anomaly_correct":
        return Cell(
            _anomaly_url("correct", anomaly),
            lambda _r: not _anomaly_now(anomaly).is_open,
            {"address": "上海市徐汇区漕溪北路1号", "resolve": "on"},
        )
    if action == "anomaly_remake":
        return Cell(
            _anomaly_url("remake", anomaly),
            lambda _r: _scoped(
                target, lambda: Order.objects.filter(remake_of=anomaly.order_id).exists()
            ),
        )
    assert action == "anomaly_call"
    return Cell(
        _anomaly_url("call_customer", anomaly),
        lambda _r: _events(target, "incidents.anomaly_customer_called", anomaly=anomaly.pk) == 1,
    )


def _report_cell(action: str, target: Tenant) -> Cell:
    report = _report(target, sealed=action == "report_reveal")
    if action == "report_answer":
        return Cell(
            _report_url("answer", report),
            lambda _r: _report_now(report).answer == "We are looking into it.",
            {"answer": "We are looking into it."},
        )
    if action == "report_move":
        return Cell(
            _report_url("move", report),
            lambda _r: _report_now(report).status == "in_progress",
            {"status": "in_progress"},
        )
    if action == "report_reveal":
        return Cell(
            _report_url("reveal", report),
            lambda r: (
                r.status_code == 200
                and (r.context or {}).get("description") == "我在楼道里看到了我的标签"
            ),
            before=_reveal_nonce(report),
        )
    assert action == "report_promote"
    return Cell(
        _report_url("promote", report),
        lambda _r: case_of_report(report) is not None,
    )


# Built in each cell: they depend on the acting user, on per-test settings (the evidence
# folder) or on an upload read once. Every other action's object is built once per tenant for
# the module.
PER_CELL = {"inbox", "notification_read", "evidence_upload", "evidence_download"}


@dataclass
class World:
    tenants: dict[str, Tenant]
    users: dict[str, User]
    cells: dict[tuple[str, str], Cell]


@pytest.fixture(scope="module")
def world(django_db_setup: Any, django_db_blocker: Any) -> Iterator[World]:
    """Both tenants, a user of each role and the actions' objects, in a transaction on
    every database that is rolled back when the module is done: nothing is committed."""
    with django_db_blocker.unblock():
        atomics = [transaction.atomic(using=alias) for alias in connections]
        for atomic in atomics:
            atomic.__enter__()
        try:
            own, other = TenantFactory(), TenantFactory()
            users = {role: UserFactory(tenant=own, roles=[role]) for role in Role.values}
            tenants = {"own": own, "other": other}
            cells = {
                (action, name): _build(action, tenant, users[Role.PRIVACY_OFFICER])
                for action in ACTIONS
                if action not in PER_CELL
                for name, tenant in tenants.items()
                if not (name == "other" and action in NO_OBJECT)
            }
        except BaseException:
            _roll_back(atomics, django_db_blocker)
            raise
    yield World(tenants, users, cells)
    _roll_back(atomics, django_db_blocker)


def _roll_back(atomics: list[Any], django_db_blocker: Any) -> None:
    with django_db_blocker.unblock():
        for alias, atomic in reversed(list(zip(connections, atomics, strict=True))):
            transaction.set_rollback(True, using=alias)
            atomic.__exit__(None, None, None)


@pytest.mark.parametrize(("role", "action", "tenant"), CELLS)
def test_incident_permission_matrix(
    world: World,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
    role: str,
    action: str,
    tenant: str,
) -> None:
    actor, target = world.users[role], world.tenants[tenant]
    cell = _build(action, target, actor) if action in PER_CELL else world.cells[action, tenant]
    # The relay needs a rider holding the order (riders, above incidents): a stand-in caller.
    monkeypatch.setattr(anomaly_actions, "_callers", [lambda *, order, actor: "+86 950 0000 0001"])
    client.force_login(actor)
    data = dict(cell.data)
    if cell.before is not None:
        data.update(cell.before(client))
    if cell.method == "get":
        response = client.get(cell.url, HTTP_ACCEPT_LANGUAGE="en")
    else:
        response = client.post(cell.url, data, HTTP_ACCEPT_LANGUAGE="en")
    allowed = tenant == "own" and role in POLICY[action]
    assert cell.effect(response) is allowed, response.status_code
    if role == Role.RIDER:
        # No back office: the login redirect, whatever the id.
        assert (response.status_code, "/login" in response.get("Location", "")) == (302, True)
    elif tenant == "other":
        assert response.status_code == 404  # never a 403 that confirms the object exists
    elif not allowed:
        assert response.status_code in (302, 403, 404)


def test_the_matrix_covers_every_role_and_action() -> None:
    assert {(r, a) for r, a, _t in CELLS} == {(r, a) for r in Role.values for a in ACTIONS}
    assert set(POLICY) >= {
        "case_add",
        "notice_approve",
        "regulator_document",
        "anomaly_promote",
        "report_promote",
    }
