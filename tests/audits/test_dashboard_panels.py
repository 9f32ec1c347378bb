"""The panels audits, privacy and incidents register on the supervisor dashboard and the
compliance summary's indicators (issue 20): each figure counted from the tenant's rows
only, linked to the list behind it, in a bounded number of queries; the chart include's
contract (audits.charts)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from django.test import RequestFactory
from django.utils import timezone

from audits.charts import Series, bar_chart
from audits.compliance import Status, evaluate
from audits.dashboard import compliance_panel
from audits.panels import Period
from audits.periods import period_of_days
from audits.services import record_event
from incidents.supervision import incidents_panel
from privacy.supervision import erasure_panel
from tenants.actors import SystemActor
from tenants.models import Role, Tenant
from tenants.scoping import tenant_scope
from tenants.timezones import zone_named
from tests.factories import (
    ErasureLedgerEntryFactory,
    ErasureRequestFactory,
    PrivacyReportFactory,
    ScheduledRunFactory,
    TenantFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db(databases="__all__")

ZONE = zone_named("Asia/Shanghai")
SYSTEM = SystemActor("tests")


@pytest.fixture
def tenant() -> Tenant:
    return TenantFactory()


@pytest.fixture
def other() -> Tenant:
    return TenantFactory()


@pytest.fixture
def period() -> Period:
    today = timezone.localdate(timezone=ZONE)
    return period_of_days(today - timedelta(days=6), today, ZONE)


@pytest.fixture
def scoped(tenant: Tenant) -> Iterator[None]:
    with tenant_scope(tenant):
        yield


def _request(tenant: Tenant, role: Role = Role.SUPERVISOR) -> Any:
    """A request of a reader of ``tenant`` holding ``role`` (the links follow what they may
    open)."""
    request = RequestFactory().get("/supervisor/")
    request.user = UserFactory(tenant=tenant, roles=[role])
    request.tenant = tenant
    return request


def _indicators(tenant: Tenant, period: Period) -> dict[str, tuple[str, str, str]]:
    with tenant_scope(tenant):
        return {
            e.spec.key: (e.indicator.status, str(e.indicator.summary), e.indicator.link)
            for e in evaluate(tenant, period)
        }


# --- the chart include's contract -----------------------------------------------------------


def test_a_chart_gives_chartjs_data_totals_and_figures_with_their_links() -> None:
    chart = bar_chart(
        caption="Reveals",
        labels=["11-01", "11-02"],
        datasets=[Series(label="Phone", data=[3, 0], links=["/a", "/b"], link="/all")],
        axis="Day",
    )
    value = json.loads(chart["value"])
    assert (
        value["labels"],
        value["datasets"][0]["data"],
        chart["series"],
        chart["rows"][0],
        chart["empty"],
    ) == (
        ["11-01", "11-02"],
        [3, 0],
        [{"label": "Phone", "total": 3, "url": "/all"}],
        {"label": "11-01", "cells": [{"n": 3, "url": "/a"}]},
        False,
    )


def test_a_series_of_the_wrong_length_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="does not match the 2 labels"):
        bar_chart(caption="x", labels=["a", "b"], datasets=[Series(label="s", data=[1])])


# --- erasure ---------------------------------------------------------------------------------


def test_the_erasure_panel_counts_overdue_and_waiting_requests_of_the_tenant(
    tenant: Tenant, other: Tenant, period: Period
) -> None:
    ErasureRequestFactory(tenant=tenant, due_in=timedelta(days=-1))
    ErasureRequestFactory(tenant=tenant, due_in=timedelta(days=3))
    ErasureRequestFactory(tenant=tenant, due_in=timedelta(days=5))
    ErasureRequestFactory(tenant=other, due_in=timedelta(days=-2))
    with tenant_scope(tenant):
        context = erasure_panel(_request(tenant), tenant, period)
    assert (context["overdue"], context["upcoming"], context["overdue_url"]) == (
        1,
        2,
        "/admin/privacy/erasurerequest/?due=overdue",
    )


def test_the_erasure_panel_charts_the_periods_erasures_per_day_and_reason(
    tenant: Tenant, period: Period
) -> None:
    ErasureLedgerEntryFactory.create_batch(2, tenant=tenant, reason="retention")
    ErasureLedgerEntryFactory(tenant=tenant, reason="customer_request")
    with tenant_scope(tenant):
        context = erasure_panel(_request(tenant), tenant, period)
    today = period.last_day.isoformat()
    assert (
        context["swept"],
        context["requested"],
        context["erased"],
        context["chart"]["rows"][-1]["cells"][0],
    ) == (
        2,
        1,
        3,
        {
            "n": 2,
            "url": f"/admin/privacy/erasureledgerentry/?reason__exact=retention&since={today}&until={today}",
        },
    )


def test_erasures_after_the_period_are_not_counted(tenant: Tenant) -> None:
    ErasureLedgerEntryFactory(tenant=tenant)
    today = timezone.localdate(timezone=ZONE)
    before = period_of_days(today - timedelta(days=7), today - timedelta(days=1), ZONE)
    with tenant_scope(tenant):
        context = erasure_panel(_request(tenant), tenant, before)
    assert (context["erased"], context["chart"]["empty"]) == (0, True)


def test_the_ledger_is_unhealthy_after_a_failed_reconciliation_or_a_damage_alert(
    tenant: Tenant, period: Period
) -> None:
    ScheduledRunFactory(job="privacy.tasks.reconcile_erasure_ledger", status="done")
    record_event(
        tenant=tenant, actor=SYSTEM, action="privacy.ledger_damaged", details={"error": "x"}
    )
    with tenant_scope(tenant):
        context = erasure_panel(_request(tenant), tenant, period)
    assert (
        context["reconcile_state"],
        context["ledger_alerts"][0]["n"],
        context["ledger_healthy"],
    ) == (
        "ok",
        1,
        False,
    )


def test_the_last_verified_backup_is_fresh_within_the_alert_hours(
    tenant: Tenant, period: Period
) -> None:
    ScheduledRunFactory(
        job="privacy.tasks.nightly_backup",
        period=timezone.now() - timedelta(hours=3),
        detail={"verified": True},
    )
    with tenant_scope(tenant):
        context = erasure_panel(_request(tenant), tenant, period)
    assert (context["backup_at"] is not None, context["backup_fresh"]) == (True, True)


def test_the_erasure_panel_reads_in_a_bounded_number_of_queries(
    tenant: Tenant, period: Period, scoped: None, django_assert_max_num_queries: Any
) -> None:
    for n in range(5):
        ErasureRequestFactory(tenant=tenant, due_in=timedelta(days=n - 2))
        ErasureLedgerEntryFactory(tenant=tenant)
    request = _request(tenant)
    # Six reads, and the reader's permissions (which lists their links may open).
    with django_assert_max_num_queries(8):
        erasure_panel(request, tenant, period)


# --- incidents -------------------------------------------------------------------------------


def _case(tenant: Tenant, *, hours_ago: int, drill: bool = False) -> Any:
    from incidents.cases import open_case

    manager = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    return open_case(
        tenant=tenant,
        title="A lost phone",
        severity="major",
        severity_reason="Label photos",
        kind="lost_device",
        data_categories=["name"],
        affected_customers=1,
        discovered_at=timezone.now() - timedelta(hours=hours_ago),
        discovered_by="Dispatcher",
        is_drill=drill,
        actor=manager,
    )


def test_the_incidents_panel_lists_open_cases_with_their_clocks(
    tenant: Tenant, period: Period
) -> None:
    late = _case(tenant, hours_ago=6)
    _case(tenant, hours_ago=1)
    with tenant_scope(tenant):
        context = incidents_panel(_request(tenant), tenant, period)
    first = context["cases"][0]
    assert (
        context["open_cases"],
        context["overdue_reports"],
        first["code"],
        [c["overdue"] for c in first["clocks"]],
        context["overdue_reports_url"],
    ) == (2, 1, late.code, [True], "/admin/incidents/incidentcase/?clock=overdue")


def test_a_drills_overdue_report_is_not_counted_as_overdue(tenant: Tenant, period: Period) -> None:
    _case(tenant, hours_ago=6, drill=True)
    with tenant_scope(tenant):
        context = incidents_panel(_request(tenant), tenant, period)
    assert (context["open_cases"], context["overdue_reports"], context["cases"][0]["drill"]) == (
        1,
        0,
        True,
    )


def test_the_incidents_panel_counts_customers_reports_and_their_deadlines(
    tenant: Tenant, other: Tenant, period: Period
) -> None:
    PrivacyReportFactory(tenant=tenant, due_in=timedelta(days=-1))
    PrivacyReportFactory(tenant=tenant, due_in=timedelta(days=4))
    PrivacyReportFactory(tenant=other, due_in=timedelta(days=-1))
    with tenant_scope(tenant):
        context = incidents_panel(_request(tenant), tenant, period)
    assert (context["reports_overdue"], context["reports_open"], context["reports_open_url"]) == (
        1,
        2,
        "/admin/incidents/privacyreport/?deadline=open",
    )


def test_the_incidents_panel_reads_in_a_bounded_number_of_queries(
    tenant: Tenant, period: Period, django_assert_max_num_queries: Any
) -> None:
    for hours in range(1, 12):
        _case(tenant, hours_ago=hours)
    PrivacyReportFactory(tenant=tenant)
    request = _request(tenant)
    # Five reads, and the reader's permissions (which lists their links may open).
    with tenant_scope(tenant), django_assert_max_num_queries(7):
        incidents_panel(request, tenant, period)


# --- the compliance summary ------------------------------------------------------------------


def test_the_summary_lists_the_clauses_in_the_policys_order(tenant: Tenant, period: Period) -> None:
    with tenant_scope(tenant):
        rows = compliance_panel(_request(tenant), tenant, period)["rows"]
    assert [r["clause"] for r in rows] == [
        "2.2.2",
        "2.4.1",
        "2.4.2",
        "4.1.1",
        "5.1",
        "6.1.1",
        "6.1.2",
        "6.1.2",
        "6.2.2",
        "6.3.1",
        "7.1.2",
        "7.2",
    ]


def test_an_overdue_erasure_request_fails_clause_2_4_2(tenant: Tenant, period: Period) -> None:
    ErasureRequestFactory(tenant=tenant, due_in=timedelta(days=-1))
    assert _indicators(tenant, period)["privacy.erasure_requests"] == (
        Status.FAILING,
        "1 overdue erasure request",
        "/admin/privacy/erasurerequest/?due=overdue",
    )


def test_no_overdue_erasure_request_meets_clause_2_4_2(tenant: Tenant, period: Period) -> None:
    ErasureRequestFactory(tenant=tenant, due_in=timedelta(days=2))
    assert _indicators(tenant, period)["privacy.erasure_requests"][:2] == (
        Status.OK,
        "0 overdue erasure requests; 1 waiting, within its deadline",
    )


def test_a_sweep_on_time_meets_clause_2_4_1(tenant: Tenant, period: Period) -> None:
    ScheduledRunFactory(job="privacy.tasks.retention_sweep", status="done")
    ErasureLedgerEntryFactory(tenant=tenant)
    assert _indicators(tenant, period)["privacy.retention"][:2] == (
        Status.OK,
        "1 customer erased after the retention period; the hourly sweep ran on time",
    )


def test_a_failed_sweep_fails_clause_2_4_1(tenant: Tenant, period: Period) -> None:
    ScheduledRunFactory(job="privacy.tasks.retention_sweep", status="failed", finished_at=None)
    assert _indicators(tenant, period)["privacy.retention"][0] == Status.FAILING


def test_no_verified_backup_fails_clause_2_2_2(tenant: Tenant, period: Period) -> None:
    assert _indicators(tenant, period)["privacy.backups"][:2] == (
        Status.FAILING,
        "No verified backup yet",
    )


def test_an_old_backup_fails_clause_2_2_2(tenant: Tenant, period: Period) -> None:
    ScheduledRunFactory(
        job="privacy.tasks.nightly_backup",
        period=timezone.now() - timedelta(hours=40),
        detail={"verified": True},
    )
    status, summary, _link = _indicators(tenant, period)["privacy.backups"]
    assert (status, summary.endswith(": older than 26 hours")) == (Status.FAILING, True)


def test_an_overdue_incident_report_fails_clause_5_1(tenant: Tenant, period: Period) -> None:
    _case(tenant, hours_ago=6)
    assert _indicators(tenant, period)["incidents.clocks"] == (
        Status.FAILING,
        "1 incident report overdue",
        "/admin/incidents/incidentcase/?clock=overdue",
    )


def test_an_overdue_customer_report_fails_clause_6_2_2(tenant: Tenant, period: Period) -> None:
    PrivacyReportFactory(tenant=tenant, due_in=timedelta(hours=-1))
    assert _indicators(tenant, period)["incidents.feedback"][:2] == (
        Status.FAILING,
        "1 customer report past its deadline",
    )


def test_no_published_agreement_fails_clause_4_1_1(tenant: Tenant, period: Period) -> None:
    assert _indicators(tenant, period)["riders.agreements"][:2] == (
        Status.FAILING,
        "No confidentiality agreement is published",
    )


def test_a_rider_without_the_current_signature_fails_clause_4_1_1(
    tenant: Tenant, period: Period
) -> None:
    from riders.agreements import publish_agreement, sign_agreement
    from riders.profiles import ensure_rider_profile

    publish_agreement(tenant=tenant, actor=SYSTEM, text_zh="保密", text_en="Secret")
    signed = ensure_rider_profile(user=UserFactory(tenant=tenant, roles=[Role.RIDER]), actor=SYSTEM)
    sign_agreement(rider=signed, version=1, language="en", ip=None)
    publish_agreement(tenant=tenant, actor=SYSTEM, text_zh="保密2", text_en="Secret 2")
    assert _indicators(tenant, period)["riders.agreements"] == (
        Status.FAILING,
        "1 of 1 active rider has not signed agreement v2",
        "/admin/riders/rider/?agreement=unsigned",
    )


def test_unsigned_pledges_fail_clause_7_1_2(tenant: Tenant, period: Period) -> None:
    from training.starter import seed_training

    seed_training(tenant, SYSTEM)
    UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    status, summary, link = _indicators(tenant, period)["training.pledges"]
    assert (status, summary, link) == (
        Status.FAILING,
        "1 of 1 staff member has not signed the current pledge",
        "/training/coverage/?course=pledge&state=missing",
    )


def test_a_course_not_taken_needs_attention_under_clause_7_2(
    tenant: Tenant, period: Period
) -> None:
    from training.starter import seed_training

    seed_training(tenant, SYSTEM)
    UserFactory(tenant=tenant, roles=[Role.KITCHEN])
    assert _indicators(tenant, period)["training.coverage"] == (
        Status.ATTENTION,
        "1 person has not taken a required course",
        "/training/coverage/?state=missing",
    )


def test_the_compliance_panel_counts_statuses(tenant: Tenant, period: Period) -> None:
    with tenant_scope(tenant):
        context = compliance_panel(_request(tenant), tenant, period)
    assert context["failing"] + context["attention"] + context["met"] == len(context["rows"])


def test_the_period_is_whole_local_days() -> None:
    period = period_of_days(date(2026, 3, 1), date(2026, 3, 1), ZONE)
    assert (period.end - period.start) == timedelta(days=1)


def test_a_shared_read_is_computed_once_within_a_page_and_every_time_outside() -> None:
    from audits.shared_reads import shared, shared_reads

    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    with shared_reads():
        inside = [shared("k", compute), shared("k", compute)]
    outside = [shared("k", compute), shared("k", compute)]
    assert (inside, outside) == ([1, 1], [2, 3])


def test_the_dashboards_panels_share_the_training_coverage(
    tenant: Tenant, period: Period, django_assert_max_num_queries: Any
) -> None:
    from audits.shared_reads import shared_reads
    from training.coverage_views import coverage_panel
    from training.supervision import pledges_indicator, training_indicator

    UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    with tenant_scope(tenant), shared_reads():
        coverage_panel(_request(tenant), tenant, period)
        with django_assert_max_num_queries(0):
            pledges_indicator(tenant, period)
            training_indicator(tenant, period)


def test_a_tenant_administrator_sees_the_figures_without_links_they_may_not_follow(
    tenant: Tenant, period: Period
) -> None:
    ErasureRequestFactory(tenant=tenant, due_in=timedelta(days=-1))
    PrivacyReportFactory(tenant=tenant, due_in=timedelta(days=-1))
    with tenant_scope(tenant):
        request = _request(tenant, Role.TENANT_ADMIN)
        erasure = erasure_panel(request, tenant, period)
        incidents = incidents_panel(request, tenant, period)
        rows = {r["clause"]: r["link"] for r in compliance_panel(request, tenant, period)["rows"]}
    assert (
        (erasure["overdue"], erasure["overdue_url"]),
        (incidents["reports_overdue"], incidents["reports_overdue_url"]),
        incidents["open_cases_url"],
        rows["2.4.2"],
        rows["5.1"],
    ) == (
        (1, ""),
        (1, ""),
        "/admin/incidents/incidentcase/?open=yes",
        "",
        "/admin/incidents/incidentcase/?clock=running",
    )
