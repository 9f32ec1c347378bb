"""The filters the dashboard's numbers link to (issue 20): the audit log's ``actor`` (shown
by name) and ``since``/``until`` (local days, both included), and the lists of erasure
requests (``due``), the erasure ledger (``since``/``until``), incident cases (``open``,
``clock``), riders (``agreement``) and customers' reports (``deadline=open``). A bad value
is ignored with a message, never a 500."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from audits.services import record_event
from tenants.actors import SystemActor
from tenants.models import Role, Tenant, User
from tenants.timezones import zone_named
from tests.factories import (
    ErasureLedgerEntryFactory,
    ErasureRequestFactory,
    PrivacyReportFactory,
    TenantFactory,
    UserFactory,
    verified_second_factor,
)

pytestmark = pytest.mark.django_db(databases="__all__")

AUDIT_LIST = "/admin/audits/auditevent/"
SYSTEM = SystemActor("tests")


def _client(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    verified_second_factor(client, user)
    return client


def _rows(response: Any) -> list[Any]:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def _messages(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _selected(response: Any, title: str) -> str:
    cl = response.context["cl"]
    (spec,) = [s for s in cl.filter_specs if str(s.title) == title]
    (chosen,) = [str(c["display"]) for c in spec.choices(cl) if c["selected"]]
    return chosen


@pytest.fixture
def tenant() -> Tenant:
    return TenantFactory()


@pytest.fixture
def supervisor(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.SUPERVISOR], username="sup-zhou")


@pytest.fixture
def agent(tenant: Tenant) -> User:
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE], username="cs-li")
    record_event(tenant=tenant, actor=agent, action="dashboard.viewed", details={})
    record_event(tenant=tenant, actor=SYSTEM, action="dashboard.viewed", details={})
    return agent


def _today() -> str:
    return timezone.localdate(timezone=zone_named("Asia/Shanghai")).isoformat()


# --- the audit log ---------------------------------------------------------------------------


def test_the_actor_filter_lists_one_actors_events_shown_by_name(
    supervisor: User, agent: User
) -> None:
    response = _client(supervisor).get(AUDIT_LIST, {"actor": f"user:{agent.pk}"})
    rows = _rows(response)
    assert ({r.actor for r in rows}, _selected(response, "actor")) == (
        {f"user:{agent.pk}"},
        "cs-li (Customer service)",
    )


def test_an_actor_of_another_tenant_matches_nothing(supervisor: User, agent: User) -> None:
    stranger = UserFactory(
        tenant=TenantFactory(), roles=[Role.CUSTOMER_SERVICE], username="far-away"
    )
    response = _client(supervisor).get(AUDIT_LIST, {"actor": f"user:{stranger.pk}"})
    assert (_rows(response), "far-away" in response.content.decode()) == ([], False)


@pytest.mark.parametrize("value", ["user:abc", "root", "user:1;drop", "x" * 300, "user:１２"])
def test_a_malformed_actor_is_ignored_with_a_message(
    supervisor: User, agent: User, value: str
) -> None:
    response = _client(supervisor).get(AUDIT_LIST, {"actor": value})
    assert (len(_rows(response)) >= 2, _messages(response)) == (
        True,
        ["Ignored actor: give it as user:<id>, token:<id> or system:<name>."],
    )


def test_since_and_until_keep_the_events_of_those_local_days(supervisor: User, agent: User) -> None:
    today = _today()
    client = _client(supervisor)
    included = _rows(
        client.get(AUDIT_LIST, {"since": today, "until": today, "action": "dashboard.viewed"})
    )
    tomorrow = (
        timezone.localdate(timezone=zone_named("Asia/Shanghai")) + timedelta(days=1)
    ).isoformat()
    later = _rows(client.get(AUDIT_LIST, {"since": tomorrow, "action": "dashboard.viewed"}))
    earlier = _rows(client.get(AUDIT_LIST, {"until": "2026-01-01", "action": "dashboard.viewed"}))
    assert (len(included), later, earlier) == (2, [], [])


def test_a_dashboard_link_combines_action_actor_and_days(supervisor: User, agent: User) -> None:
    today = _today()
    response = _client(supervisor).get(
        AUDIT_LIST,
        {"action": "dashboard.viewed", "actor": f"user:{agent.pk}", "since": today, "until": today},
    )
    assert ([r.actor for r in _rows(response)], _selected(response, "days")) == (
        [f"user:{agent.pk}"],
        "Today",
    )


def test_a_range_of_its_own_is_shown_as_chosen(supervisor: User, agent: User) -> None:
    response = _client(supervisor).get(AUDIT_LIST, {"since": "2026-01-01", "until": "2026-01-31"})
    assert _selected(response, "days") == "2026-01-01 to 2026-01-31"


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"since": "2026-02-30"}, "since"),
        ({"until": "tomorrow"}, "until"),
        ({"since": "0001-01-01"}, "since"),
        ({"since": "2026-11-30", "until": "2026-11-01"}, "until"),
    ],
)
def test_a_bad_day_is_ignored_with_a_message(
    supervisor: User, agent: User, params: dict[str, str], named: str
) -> None:
    response = _client(supervisor).get(AUDIT_LIST, params)
    assert (len(_rows(response)) >= 2, _messages(response)) == (
        True,
        [f"Ignored {named}: give a day as YYYY-MM-DD, the last not before the first."],
    )


def test_the_filtered_log_reads_in_a_bounded_number_of_queries(
    supervisor: User, agent: User, django_assert_max_num_queries: Any
) -> None:
    client = _client(supervisor)
    client.get(AUDIT_LIST)
    today = _today()
    with django_assert_max_num_queries(20):
        client.get(AUDIT_LIST, {"actor": f"user:{agent.pk}", "since": today, "until": today})


# --- the other lists -------------------------------------------------------------------------


def test_the_erasure_requests_filter_by_deadline(supervisor: User, tenant: Tenant) -> None:
    late = ErasureRequestFactory(tenant=tenant, due_in=timedelta(days=-1))
    waiting = ErasureRequestFactory(tenant=tenant, due_in=timedelta(days=2))
    client = _client(supervisor)
    overdue = _rows(client.get("/admin/privacy/erasurerequest/", {"due": "overdue"}))
    upcoming = _rows(client.get("/admin/privacy/erasurerequest/", {"due": "upcoming"}))
    assert ([r.pk for r in overdue], [r.pk for r in upcoming]) == ([late.pk], [waiting.pk])


def test_the_erasure_ledger_filters_by_days(supervisor: User, tenant: Tenant) -> None:
    entry = ErasureLedgerEntryFactory(tenant=tenant)
    client = _client(supervisor)
    today = _today()
    shown = _rows(
        client.get("/admin/privacy/erasureledgerentry/", {"since": today, "until": today})
    )
    none = _rows(client.get("/admin/privacy/erasureledgerentry/", {"until": "2026-01-01"}))
    assert ([r.pk for r in shown], none) == ([entry.pk], [])


def test_the_incident_cases_filter_open_and_overdue(supervisor: User, tenant: Tenant) -> None:
    from incidents.cases import move_case, open_case

    def case(hours: int) -> Any:
        return open_case(
            tenant=tenant,
            title="Case",
            severity="major",
            severity_reason="r",
            kind="lost_device",
            data_categories=["name"],
            affected_customers=1,
            discovered_at=timezone.now() - timedelta(hours=hours),
            discovered_by="d",
            is_drill=False,
            actor=supervisor,
        )

    late, fresh, done = case(6), case(1), case(1)
    for state in ("contained", "investigating", "remediated", "closed"):
        done = move_case(case=done, to=state, actor=supervisor)
    client = _client(supervisor)
    opened = _rows(client.get("/admin/incidents/incidentcase/", {"open": "yes"}))
    overdue = _rows(client.get("/admin/incidents/incidentcase/", {"clock": "overdue"}))
    assert ({c.pk for c in opened}, [c.pk for c in overdue]) == ({late.pk, fresh.pk}, [late.pk])


def test_the_riders_filter_those_without_the_current_signature(
    supervisor: User, tenant: Tenant
) -> None:
    from riders.agreements import publish_agreement, sign_agreement
    from riders.profiles import ensure_rider_profile

    publish_agreement(tenant=tenant, actor=SYSTEM, text_zh="保密", text_en="Secret")
    signed = ensure_rider_profile(user=UserFactory(tenant=tenant, roles=[Role.RIDER]), actor=SYSTEM)
    unsigned = ensure_rider_profile(
        user=UserFactory(tenant=tenant, roles=[Role.RIDER]), actor=SYSTEM
    )
    sign_agreement(rider=signed, version=1, language="en", ip=None)
    rows = _rows(_client(supervisor).get("/admin/riders/rider/", {"agreement": "unsigned"}))
    assert [r.pk for r in rows] == [unsigned.pk]


def test_the_customers_reports_filter_the_open_ones(supervisor: User, tenant: Tenant) -> None:
    report = PrivacyReportFactory(tenant=tenant)
    PrivacyReportFactory(tenant=tenant, status="closed")
    rows = _rows(_client(supervisor).get("/admin/incidents/privacyreport/", {"deadline": "open"}))
    assert [r.pk for r in rows] == [report.pk]
