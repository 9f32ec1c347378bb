"""Order anomalies' workflow (issue 18, point 4): open -> assigned -> resolved, who may
assign to whom (audited), the page's panel, the list's state and filter, and customer
service notified when an anomaly opens — from the rider's page too."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.test import Client
from django.urls import reverse

from audits.models import AuditEvent
from core.errors import Conflict
from incidents.models import AnomalyKind, AnomalyState, OrderAnomaly
from incidents.services import assign_anomaly, report_anomaly, resolve_anomaly
from incidents.staff_notifications import ANOMALY_ASSIGNED, ANOMALY_OPENED
from tenants.actors import SystemActor
from tenants.models import Notification, Role, Tenant, User
from tenants.notifications import change_notification_channel, message_of
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")

SYSTEM = SystemActor("tests")


@pytest.fixture
def tenant() -> Tenant:
    return TenantFactory()


@pytest.fixture
def agent(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE], username="cs-wang")


@pytest.fixture
def anomaly(tenant: Tenant, agent: User) -> OrderAnomaly:
    return report_anomaly(order=OrderFactory(tenant=tenant), kind=AnomalyKind.LOST, actor=SYSTEM)


def _reload(anomaly: OrderAnomaly) -> OrderAnomaly:
    with tenant_scope(anomaly.tenant):
        return OrderAnomaly.objects.get(pk=anomaly.pk)


def _notifications(tenant: Tenant, **filters: Any) -> list[Notification]:
    with tenant_scope(tenant):
        return list(Notification.objects.filter(**filters).order_by("pk"))


def _customer_service(tenant: Tenant) -> list[int]:
    from tenants.models import Membership

    with tenant_scope(tenant):
        return sorted(
            Membership.objects.filter(role=Role.CUSTOMER_SERVICE).values_list("user_id", flat=True)
        )


def test_the_kinds_cover_the_policy() -> None:
    assert {
        "wrong_address",
        "lost",
        "damaged",
        "pin_locked",
        "seal_mismatch",
        "customer_unreachable",
    } <= set(AnomalyKind.values)
    assert AnomalyKind.WRONG_ADDRESS.label == "Wrong delivery information"


# --- assignment ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.CUSTOMER_SERVICE, True),
        (Role.TENANT_ADMIN, True),
        (Role.SUPERVISOR, True),
        (Role.DISPATCHER, False),
        (Role.PRIVACY_OFFICER, False),
        (Role.KITCHEN, False),
        (Role.PACKER, False),
        (Role.RIDER, False),
    ],
)
def test_who_may_assign(anomaly: OrderAnomaly, agent: User, role: Role, allowed: bool) -> None:
    actor = UserFactory(tenant=anomaly.tenant, roles=[role])
    try:
        assign_anomaly(anomaly=anomaly, assignee=agent, actor=actor)
        assigned = True
    except PermissionDenied:
        assigned = False
    assert (assigned, _reload(anomaly).assigned_to == f"user:{agent.pk}") == (allowed, allowed)


def test_a_system_actor_may_not_assign(anomaly: OrderAnomaly, agent: User) -> None:
    with pytest.raises(PermissionDenied):
        assign_anomaly(anomaly=anomaly, assignee=agent, actor=SYSTEM)


@pytest.mark.parametrize("who", ["supervisor", "other_tenant", "inactive"])
def test_only_someone_who_may_resolve_it_takes_it(
    anomaly: OrderAnomaly, agent: User, who: str
) -> None:
    assignee = {
        "supervisor": lambda: UserFactory(tenant=anomaly.tenant, roles=[Role.SUPERVISOR]),
        "other_tenant": lambda: UserFactory(tenant=TenantFactory(), roles=[Role.CUSTOMER_SERVICE]),
        "inactive": lambda: UserFactory(
            tenant=anomaly.tenant, roles=[Role.CUSTOMER_SERVICE], is_active=False
        ),
    }[who]()
    with pytest.raises(ValidationError):
        assign_anomaly(anomaly=anomaly, assignee=assignee, actor=agent)
    assert _reload(anomaly).assigned_to == ""


def test_assign_reassign_audited_then_resolved_and_closed_to_assignment(
    anomaly: OrderAnomaly, agent: User
) -> None:
    assert anomaly.workflow_state == AnomalyState.OPEN
    colleague = UserFactory(tenant=anomaly.tenant, roles=[Role.CUSTOMER_SERVICE])
    assign_anomaly(anomaly=anomaly, assignee=agent, actor=agent)
    assert _reload(anomaly).workflow_state == AnomalyState.ASSIGNED
    assign_anomaly(anomaly=anomaly, assignee=colleague, actor=agent)
    with tenant_scope(anomaly.tenant):
        events = list(
            AuditEvent.objects.filter(action="incidents.anomaly_assigned").order_by("sequence")
        )
    assert [e.details for e in events] == [
        {"anomaly": anomaly.pk, "to": f"user:{agent.pk}"},
        {"anomaly": anomaly.pk, "to": f"user:{colleague.pk}"},
    ]
    resolve_anomaly(anomaly=anomaly, outcome="refunded", note="", actor=colleague)
    assert _reload(anomaly).workflow_state == AnomalyState.RESOLVED
    with pytest.raises(Conflict):
        assign_anomaly(anomaly=anomaly, assignee=agent, actor=agent)


def test_the_assignee_hears_of_it_unless_they_took_it_themselves(
    anomaly: OrderAnomaly, agent: User
) -> None:
    boss = UserFactory(tenant=anomaly.tenant, roles=[Role.TENANT_ADMIN])
    assign_anomaly(anomaly=anomaly, assignee=agent, actor=agent)
    assert _notifications(anomaly.tenant, kind=ANOMALY_ASSIGNED) == []
    assign_anomaly(anomaly=anomaly, assignee=boss, actor=agent)
    (told,) = _notifications(anomaly.tenant, kind=ANOMALY_ASSIGNED)
    assert told.user_id == boss.pk


# --- the page --------------------------------------------------------------------------------


def _page(client: Client, anomaly: OrderAnomaly) -> str:
    url = reverse("admin:incidents_orderanomaly_change", args=[anomaly.pk])
    return client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_assign_to_me_and_to_a_colleague_on_the_page(
    client: Client, anomaly: OrderAnomaly, agent: User
) -> None:
    colleague = UserFactory(tenant=anomaly.tenant, roles=[Role.CUSTOMER_SERVICE], username="cs-li")
    client.force_login(agent)
    html = _page(client, anomaly)
    assert ('id="assign-form"' in html, "cs-li" in html) == (True, True)
    url = reverse("admin:incidents_orderanomaly_assign", args=[anomaly.pk])
    assert client.post(url, {"me": "1"}).status_code == 302
    assert _reload(anomaly).assigned_to == f"user:{agent.pk}"
    client.post(url, {"assignee": str(colleague.pk)})
    assert _reload(anomaly).assigned_to == f"user:{colleague.pk}"
    assert "cs-li" in _page(client, anomaly)


def test_the_page_refuses_a_dispatcher_and_another_tenants_anomaly_is_404(
    client: Client, anomaly: OrderAnomaly, agent: User
) -> None:
    dispatcher = UserFactory(tenant=anomaly.tenant, roles=[Role.DISPATCHER])
    client.force_login(dispatcher)
    assert 'id="assign-form"' not in _page(client, anomaly)
    url = reverse("admin:incidents_orderanomaly_assign", args=[anomaly.pk])
    client.post(url, {"me": "1"})
    assert _reload(anomaly).assigned_to == ""
    outsider = UserFactory(tenant=TenantFactory(), roles=[Role.CUSTOMER_SERVICE])
    client.force_login(outsider)
    assert client.post(url, {"me": "1"}).status_code == 404
    # Another tenant's user id as the assignee is nobody.
    client.force_login(agent)
    client.post(url, {"assignee": str(outsider.pk)})
    assert _reload(anomaly).assigned_to == ""


def test_the_list_shows_the_state_and_filters_by_it(
    client: Client, tenant: Tenant, agent: User
) -> None:
    open_one = report_anomaly(order=OrderFactory(tenant=tenant), kind="lost", actor=SYSTEM)
    taken = report_anomaly(order=OrderFactory(tenant=tenant), kind="damaged", actor=SYSTEM)
    codes = (open_one.order.code, taken.order.code)
    assign_anomaly(anomaly=taken, assignee=agent, actor=agent)
    client.force_login(agent)
    url = reverse("admin:incidents_orderanomaly_changelist")

    def listed(state: str) -> list[bool]:
        html = client.get(url, {"state": state}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        return [codes[0] in html, codes[1] in html]

    assert (listed("unassigned"), listed("assigned"), listed("open")) == (
        [True, False],
        [False, True],
        [True, True],
    )
    assert open_one.workflow_state == "open"


# --- customer service hears of a new anomaly --------------------------------------------------


def test_customer_service_is_notified_with_a_link_to_the_anomaly(
    tenant: Tenant, agent: User
) -> None:
    second = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    UserFactory(tenant=tenant, roles=[Role.DISPATCHER])
    order = OrderFactory(tenant=tenant)
    anomaly = report_anomaly(order=order, kind=AnomalyKind.WRONG_ADDRESS, actor=SYSTEM)
    told = _notifications(tenant, kind=ANOMALY_OPENED)
    assert sorted(n.user_id for n in told) == _customer_service(tenant)
    assert {agent.pk, second.pk} <= {n.user_id for n in told}
    stored = repr([(n.params, n.link, message_of(n)) for n in told])
    assert not any(v in stored for v in ("欧阳娜娜", "13912345678", "张江路"))
    link = reverse("admin:incidents_orderanomaly_change", args=[anomaly.pk])
    assert {n.link for n in told} == {link}
    assert message_of(told[0]) == (f"New order anomaly on {order.code}: Wrong delivery information")


def test_no_notification_when_the_report_is_rolled_back(tenant: Tenant, agent: User) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        report_anomaly(order=OrderFactory(tenant=tenant), kind="lost", actor=SYSTEM)
        raise RuntimeError("the rider's step failed")
    assert _notifications(tenant) == []


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    from config.celery import app as celery_app

    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = False


def test_and_by_the_tenants_channel_after_the_commit(
    tenant: Tenant,
    agent: User,
    settings: Any,
    eager_tasks: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    agent.email = "wang@staff.test"
    agent.save(update_fields=["email"])
    admin_user = UserFactory(tenant=tenant, roles=[Role.TENANT_ADMIN])
    change_notification_channel(
        tenant=tenant, channel="email", webhook_url="", new_secret=False, actor=admin_user
    )
    tenant.refresh_from_db()
    order = OrderFactory(tenant=tenant)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        report_anomaly(order=order, kind="damaged", actor=SYSTEM)
    assert mail.outbox == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()
    assert [m.to for m in mail.outbox] == [["wang@staff.test"]]  # the others have no address
    # The e-mail says only that something waits, with the link: no order code leaves.
    message = mail.outbox[0]
    assert (
        order.code in message.subject,
        order.code in message.body,
        "/admin/" in message.body,
    ) == (
        False,
        False,
        True,
    )


def test_a_rider_reporting_a_problem_tells_customer_service(client: Client) -> None:
    from riders.dispatch import assign_rider
    from tests.riders.conftest import make_rider, packed_order

    tenant = TenantFactory()
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    order = packed_order(tenant)
    rider = make_rider(tenant)
    assign_rider(
        order=order, rider=rider, actor=UserFactory(tenant=tenant, roles=[Role.DISPATCHER])
    )
    client.force_login(rider.user)
    client.post(reverse("riders:problem", args=[order.pk]), {"kind": "customer_unreachable"})
    told = _notifications(tenant, kind=ANOMALY_OPENED)
    with tenant_scope(tenant):
        anomaly = OrderAnomaly.objects.get()
    assert sorted(n.user_id for n in told) == _customer_service(tenant)
    assert agent.pk in {n.user_id for n in told}
    assert {(n.link, n.params["kind"]) for n in told} == {
        (reverse("admin:incidents_orderanomaly_change", args=[anomaly.pk]), "customer_unreachable")
    }
