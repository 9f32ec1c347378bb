"""Anomalous-access rules (issue 20, point 2): each rule fires, and does not fire, through
the evaluation the beat job runs (audits.alert_evaluation.evaluate_tenant)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.alert_evaluation import evaluate_tenant
from audits.alerts import change_supervision_settings
from audits.models import AccessAlert, AuditEvent
from orders.lifecycle import transition_order
from orders.models import Status
from riders.dispatch import assign_rider
from riders.profiles import update_rider
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.factories import AuditEventFactory, OrderFactory, TenantFactory, UserFactory
from tests.riders.conftest import make_rider, packed_order

pytestmark = pytest.mark.django_db(databases="__all__")

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _noon(days_ago: int = 0) -> datetime:
    """Today's (or an earlier day's) noon in Shanghai: inside the default working hours."""
    day = timezone.now().astimezone(SHANGHAI).date() - timedelta(days=days_ago)
    return datetime.combine(day, time(12, 0), tzinfo=SHANGHAI)


def _tenant(**thresholds: Any) -> Tenant:
    tenant = TenantFactory()
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    if thresholds:
        change_supervision_settings(tenant=tenant, actor=officer, values=thresholds)
    return tenant


def _alerts(tenant: Tenant) -> list[tuple[str, str, int]]:
    with tenant_scope(tenant):
        return sorted(
            AccessAlert.objects.filter(tenant=tenant).values_list("rule", "person", "event_count")
        )


def _rules(tenant: Tenant) -> list[str]:
    return sorted({rule for rule, _person, _count in _alerts(tenant)})


def _reveal(tenant: Tenant, user: User, at: datetime, **kwargs: Any) -> AuditEvent:
    return AuditEventFactory(tenant=tenant, actor=user, at=at, **kwargs)


# --- many reveals by one person ---------------------------------------------------------------


def test_reveals_reaching_the_burst_count_within_the_window_raise_one_alert() -> None:
    tenant = _tenant(reveal_burst_count=3, reveal_burst_minutes=10)
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    for minute in (0, 3, 6):
        _reveal(tenant, agent, _noon() + timedelta(minutes=minute))
    evaluate_tenant(tenant)
    assert _alerts(tenant) == [("reveal_burst", f"user:{agent.pk}", 3)]


def test_reveals_below_the_burst_count_raise_no_alert() -> None:
    tenant = _tenant(reveal_burst_count=3, reveal_burst_minutes=10)
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    for minute in (0, 3):
        _reveal(tenant, agent, _noon() + timedelta(minutes=minute))
    evaluate_tenant(tenant)
    assert _rules(tenant) == []


def test_reveals_spread_wider_than_the_window_raise_no_alert() -> None:
    tenant = _tenant(reveal_burst_count=3, reveal_burst_minutes=10)
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    for minute in (0, 11, 22):
        _reveal(tenant, agent, _noon() + timedelta(minutes=minute))
    evaluate_tenant(tenant)
    assert _rules(tenant) == []


def test_a_list_reveal_counts_each_of_its_records() -> None:
    tenant = _tenant(reveal_burst_count=3, reveal_burst_minutes=10)
    packer = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    AuditEventFactory(
        tenant=tenant,
        actor=packer,
        at=_noon(),
        action="privacy.reveal_batch",
        object_id="",
        details={"objects": ["1", "2", "3"], "count": 3},
    )
    evaluate_tenant(tenant)
    assert _rules(tenant) == ["reveal_burst"]


def test_a_new_firing_adds_its_events_to_the_open_alert_instead_of_a_second_one() -> None:
    tenant = _tenant(reveal_burst_count=2, reveal_burst_minutes=10)
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    for minute in (0, 1):
        _reveal(tenant, agent, _noon() + timedelta(minutes=minute))
    evaluate_tenant(tenant)
    for minute in (30, 31):
        _reveal(tenant, agent, _noon() + timedelta(minutes=minute))
    evaluate_tenant(tenant)
    assert _alerts(tenant) == [("reveal_burst", f"user:{agent.pk}", 4)]


def test_a_second_evaluation_reads_nothing_new() -> None:
    tenant = _tenant(reveal_burst_count=2, reveal_burst_minutes=10)
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    for minute in (0, 1):
        _reveal(tenant, agent, _noon() + timedelta(minutes=minute))
    evaluate_tenant(tenant)
    assert evaluate_tenant(tenant) == {"read": 0, "opened": 0, "updated": 0}


# --- refused reveals and not-found probes ---------------------------------------------------


def test_refused_reveals_reaching_the_denied_count_raise_an_alert() -> None:
    tenant = _tenant(denied_count=3, denied_minutes=15)
    agent = UserFactory(tenant=tenant, roles=[Role.DISPATCHER])
    for minute, action in enumerate(
        ("privacy.reveal_denied", "privacy.search_denied", "privacy.reveal_denied")
    ):
        _reveal(tenant, agent, _noon() + timedelta(minutes=minute), action=action)
    evaluate_tenant(tenant)
    assert _rules(tenant) == ["denied_access"]


def test_fewer_refused_reveals_than_the_denied_count_raise_no_alert() -> None:
    tenant = _tenant(denied_count=3, denied_minutes=15)
    agent = UserFactory(tenant=tenant, roles=[Role.DISPATCHER])
    for minute in (0, 1):
        _reveal(tenant, agent, _noon() + timedelta(minutes=minute), action="privacy.reveal_denied")
    evaluate_tenant(tenant)
    assert _rules(tenant) == []


def _probe(client: Client, n: int) -> None:
    for index in range(n):
        client.get(
            reverse("admin:orders_order_change", args=[f"00000000-0000-4000-8000-{index:012d}"])
        )


def test_a_not_found_object_page_is_recorded_by_its_url_name_never_its_path(
    client: Client,
) -> None:
    tenant = _tenant()
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    client.force_login(agent)
    _probe(client, 1)
    with tenant_scope(tenant):
        probes = list(
            AuditEvent.objects.filter(action="alerts.not_found_probe").values_list(
                "actor", "details", "object_id"
            )
        )
    assert probes == [(f"user:{agent.pk}", {"url_name": "admin:orders_order_change"}, "")]


def test_not_found_probes_reaching_the_denied_count_raise_an_alert(client: Client) -> None:
    tenant = _tenant(denied_count=3, denied_minutes=15)
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    client.force_login(agent)
    _probe(client, 3)
    evaluate_tenant(tenant)
    assert _alerts(tenant) == [("denied_access", f"user:{agent.pk}", 3)]


def test_probes_are_recorded_at_most_twice_the_denied_count_per_window(client: Client) -> None:
    tenant = _tenant(denied_count=2, denied_minutes=15)
    client.force_login(UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE]))
    _probe(client, 9)
    with tenant_scope(tenant):
        assert AuditEvent.objects.filter(action="alerts.not_found_probe").count() == 4


def test_a_found_page_is_no_probe(client: Client) -> None:
    tenant = _tenant()
    order = OrderFactory(tenant=tenant)
    client.force_login(UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE]))
    client.get(reverse("admin:orders_order_change", args=[order.pk]))
    with tenant_scope(tenant):
        assert not AuditEvent.objects.filter(action="alerts.not_found_probe").exists()


# --- outside working hours --------------------------------------------------------------------


def test_a_reveal_outside_working_hours_raises_an_alert() -> None:
    tenant = _tenant(workday_start=time(8, 0), workday_end=time(20, 0))
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    _reveal(tenant, agent, _noon(days_ago=1) + timedelta(hours=10))  # 22:00 in Shanghai
    evaluate_tenant(tenant)
    assert _rules(tenant) == ["reveal_outside_hours"]


def test_a_reveal_within_working_hours_raises_no_alert() -> None:
    tenant = _tenant(workday_start=time(8, 0), workday_end=time(20, 0))
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    _reveal(tenant, agent, _noon())
    evaluate_tenant(tenant)
    assert _rules(tenant) == []


# --- outside an assignment: riders (riders.alert_checks) and stations (orders.alert_checks) --


def test_a_rider_revealing_an_order_not_assigned_to_them_raises_an_alert() -> None:
    tenant = _tenant(workday_start=time(0, 0), workday_end=time(0, 0))
    rider = make_rider(tenant)
    order = packed_order(tenant)
    _reveal(tenant, rider.user, timezone.now(), object_id=str(order.pk))
    evaluate_tenant(tenant)
    assert _rules(tenant) == ["reveal_unassigned"]


def test_a_rider_revealing_their_assigned_order_raises_no_alert() -> None:
    tenant = _tenant(workday_start=time(0, 0), workday_end=time(0, 0))
    rider = make_rider(tenant)
    order = packed_order(tenant)
    assign_rider(
        order=order, rider=rider, actor=UserFactory(tenant=tenant, roles=[Role.DISPATCHER])
    )
    _reveal(tenant, rider.user, timezone.now() + timedelta(seconds=1), object_id=str(order.pk))
    evaluate_tenant(tenant)
    assert _rules(tenant) == []


def test_a_rider_revealing_an_order_after_the_assignment_ended_raises_an_alert() -> None:
    tenant = _tenant(workday_start=time(0, 0), workday_end=time(0, 0))
    rider = make_rider(tenant)
    order = packed_order(tenant)
    dispatcher = UserFactory(tenant=tenant, roles=[Role.DISPATCHER])
    assign_rider(order=order, rider=rider, actor=dispatcher)
    transition_order(
        order=order,
        to=Status.CANCELLED,
        actor=UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE]),
    )
    _reveal(tenant, rider.user, timezone.now() + timedelta(minutes=1), object_id=str(order.pk))
    evaluate_tenant(tenant)
    assert _rules(tenant) == ["reveal_unassigned"]


def test_the_kitchen_revealing_an_order_past_its_station_raises_an_alert() -> None:
    tenant = _tenant(workday_start=time(0, 0), workday_end=time(0, 0))
    order = packed_order(tenant)
    cook = UserFactory(tenant=tenant, roles=[Role.KITCHEN])
    _reveal(tenant, cook, timezone.now() + timedelta(seconds=1), object_id=str(order.pk))
    evaluate_tenant(tenant)
    assert _rules(tenant) == ["reveal_unassigned"]


def test_the_kitchen_revealing_an_order_at_its_station_raises_no_alert() -> None:
    tenant = _tenant(workday_start=time(0, 0), workday_end=time(0, 0))
    order = OrderFactory(tenant=tenant)
    cook = UserFactory(tenant=tenant, roles=[Role.KITCHEN])
    _reveal(tenant, cook, timezone.now() + timedelta(seconds=1), object_id=str(order.pk))
    evaluate_tenant(tenant)
    assert _rules(tenant) == []


def test_customer_service_revealing_any_order_raises_no_assignment_alert() -> None:
    tenant = _tenant(workday_start=time(0, 0), workday_end=time(0, 0))
    order = packed_order(tenant)
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    _reveal(tenant, agent, timezone.now() + timedelta(seconds=1), object_id=str(order.pk))
    evaluate_tenant(tenant)
    assert _rules(tenant) == []


# --- outside the rider's shift ----------------------------------------------------------------


def _shift(tenant: Tenant, rider: Any, on_shift: bool) -> None:
    rider.on_shift = on_shift
    update_rider(
        rider=rider,
        actor=UserFactory(tenant=tenant, roles=[Role.DISPATCHER]),
        changed_fields=["on_shift"],
    )


def test_a_rider_revealing_while_off_shift_raises_an_alert() -> None:
    tenant = _tenant(workday_start=time(0, 0), workday_end=time(0, 0))
    rider = make_rider(tenant)
    _shift(tenant, rider, False)
    _reveal(
        tenant, rider.user, timezone.now() + timedelta(seconds=1), object_type="riders.assignment"
    )
    evaluate_tenant(tenant)
    assert _rules(tenant) == ["reveal_outside_shift"]


def test_a_rider_revealing_while_on_shift_raises_no_alert() -> None:
    tenant = _tenant(workday_start=time(0, 0), workday_end=time(0, 0))
    rider = make_rider(tenant)
    _shift(tenant, rider, False)
    _shift(tenant, rider, True)
    _reveal(
        tenant, rider.user, timezone.now() + timedelta(seconds=1), object_type="riders.assignment"
    )
    evaluate_tenant(tenant)
    assert _rules(tenant) == []


# --- an integration token from a new network -------------------------------------------------


def _api(client: Client, token: Any, ip: str) -> int:
    return client.get(
        "/api/v1/orders/", HTTP_AUTHORIZATION=f"Bearer {token.raw}", REMOTE_ADDR=ip
    ).status_code


def test_a_token_used_from_a_second_network_raises_an_alert(client: Client) -> None:
    from tests.factories import IntegrationTokenFactory

    tenant = _tenant()
    token = IntegrationTokenFactory(tenant=tenant)
    _api(client, token, "203.0.113.7")
    _api(client, token, "198.51.100.9")
    evaluate_tenant(tenant)
    assert _alerts(tenant) == [("token_new_network", f"token:{token.pk}", 1)]


def test_a_token_used_from_the_same_slash_24_raises_no_alert(client: Client) -> None:
    from tests.factories import IntegrationTokenFactory

    tenant = _tenant()
    token = IntegrationTokenFactory(tenant=tenant)
    _api(client, token, "203.0.113.7")
    _api(client, token, "203.0.113.200")
    evaluate_tenant(tenant)
    assert _rules(tenant) == []


def test_the_new_network_event_names_the_network_only(client: Client) -> None:
    from tests.factories import IntegrationTokenFactory

    tenant = _tenant()
    token = IntegrationTokenFactory(tenant=tenant)
    _api(client, token, "2001:db8:1:2::5")
    _api(client, token, "2001:db8:9:2::5")
    with tenant_scope(tenant):
        details = list(
            AuditEvent.objects.filter(action="alerts.token_new_network").values_list(
                "details", flat=True
            )
        )
    assert details == [{"network": "2001:db8:9::/48", "known": 1}]


# --- bulk list paging -------------------------------------------------------------------------


def test_list_pages_reaching_the_paging_count_raise_an_alert(client: Client) -> None:
    tenant = _tenant(paging_pages=3, paging_minutes=10)
    supervisor = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    client.force_login(supervisor)
    for _page in range(4):
        assert client.get(reverse("admin:orders_order_changelist")).status_code == 200
    evaluate_tenant(tenant)
    assert _alerts(tenant) == [("bulk_paging", f"user:{supervisor.pk}", 1)]


def test_fewer_list_pages_than_the_paging_count_raise_no_alert(client: Client) -> None:
    tenant = _tenant(paging_pages=3, paging_minutes=10)
    client.force_login(UserFactory(tenant=tenant, roles=[Role.SUPERVISOR]))
    for _page in range(2):
        client.get(reverse("admin:orders_order_changelist"))
    evaluate_tenant(tenant)
    assert _rules(tenant) == []


def test_paging_through_the_audit_log_raises_no_alert(client: Client) -> None:
    tenant = _tenant(paging_pages=3, paging_minutes=10)
    client.force_login(UserFactory(tenant=tenant, roles=[Role.SUPERVISOR]))
    for _page in range(5):
        client.get(reverse("admin:audits_auditevent_changelist"))
    evaluate_tenant(tenant)
    assert _rules(tenant) == []
