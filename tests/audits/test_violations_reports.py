"""Violations on the supervisor dashboard (issue 20, point 4): the panel's numbers and
links, the §6.3.1 indicator, the evidence pack's CSVs (usernames, no descriptions), and
the evidence-kind registry."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.utils import timezone

from audits.compliance import Status, all_indicators
from audits.models import Violation
from audits.pack_sections import PackFile, all_pack_sections
from audits.panels import Period, panels_for
from audits.violations.evidence import (
    EvidenceTarget,
    register_evidence_kind,
    resolve_evidence,
    unregister_evidence_kind,
)
from audits.violations.reports import handled_on_time, violations_pack, violations_panel
from audits.violations.services import Decision, decide_sanction
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.factories import TenantFactory, UserFactory, ViolationFactory

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def tenant() -> Tenant:
    return TenantFactory()


@pytest.fixture
def supervisor(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.SUPERVISOR], username="sup-wang")


def _period(tenant: Tenant) -> Period:
    today = timezone.localtime(timezone.now(), tenant.zone).date()
    start = datetime(today.year, today.month, today.day, tzinfo=tenant.zone) - timedelta(days=6)
    return Period(start, start + timedelta(days=7))


def _csv(file: PackFile) -> list[list[str]]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(file.header)
    writer.writerows(file.rows)
    return list(csv.reader(io.StringIO(out.getvalue())))


def test_the_panel_indicator_and_pack_section_are_registered_for_supervisors(
    supervisor: User,
) -> None:
    keys = [p.key for p in panels_for(supervisor)]
    assert "audits.violations" in keys
    assert "audits.violations_handled" in [s.key for s in all_indicators()]
    assert "audits.violations" in [s.key for s in all_pack_sections()]


def test_a_customer_service_agent_does_not_see_the_panel(tenant: Tenant) -> None:
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    assert "audits.violations" not in [p.key for p in panels_for(agent)]


def test_the_panel_counts_open_violations_sanctions_suspensions_and_repeat_offenders(
    tenant: Tenant, supervisor: User
) -> None:
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE], username="cs-li")
    first = ViolationFactory(tenant=tenant, person=agent, recorder=supervisor)
    ViolationFactory(tenant=tenant, person=agent, recorder=supervisor)
    decide_sanction(
        violation=first,
        decision=Decision(fine="80", suspend_reveal_until=timezone.localdate() + timedelta(days=2)),
        actor=supervisor,
    )
    period = _period(tenant)
    with tenant_scope(tenant):
        context = violations_panel(RequestFactory().get("/"), tenant, period)
        html = render_to_string(
            "audits/violations/panel.html", {**context, "panel": panels_for(supervisor)[0]}
        )
    counts = {s["kind"]: s["n"] for s in context["sanctions"]}
    fine_url = next(s["url"] for s in context["sanctions"] if s["kind"] == "fine")
    assert (
        context["open"],
        counts["fine"],
        counts["suspend_reveal"],
        counts["warning"],
        context["suspensions"],
        context["repeat"],
    ) == (2, 1, 1, 0, 1, 1)
    assert fine_url == f"/admin/audits/violation/?sanction=fine&{period.query()}"
    assert context["repeat_url"] in html


def test_the_indicator_fails_when_a_violation_waits_over_30_days_for_a_sanction(
    tenant: Tenant, supervisor: User
) -> None:
    agent = UserFactory(tenant=tenant, roles=[Role.KITCHEN])
    violation = ViolationFactory(tenant=tenant, person=agent, recorder=supervisor)
    with tenant_scope(tenant):
        fresh = handled_on_time(tenant, _period(tenant))
        Violation.objects.filter(pk=violation.pk).update(
            recorded_at=timezone.now() - timedelta(days=31)
        )
        stale = handled_on_time(tenant, _period(tenant))
    assert (fresh.status, stale.status, str(stale.summary), stale.link) == (
        Status.OK,
        Status.FAILING,
        "1 violation waiting over 30 days for a sanction",
        "/admin/audits/violation/?stale=yes",
    )


def test_the_pack_names_people_by_username_and_exports_no_description(
    tenant: Tenant, supervisor: User
) -> None:
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE], username="cs-li")
    violation = ViolationFactory(
        tenant=tenant,
        person=agent,
        recorder=supervisor,
        description="Called 13912345678 from a personal phone",
    )
    decide_sanction(violation=violation, decision=Decision(fine="120.00"), actor=supervisor)
    with tenant_scope(tenant):
        section = violations_pack(tenant, _period(tenant))
        violations, sanctions = (_csv(f) for f in section.files)
    flat = repr(violations) + repr(sanctions)
    assert [f.name for f in section.files] == ["violations.csv", "sanctions.csv"]
    assert (violations[1][3], violations[1][4], violations[1][6]) == ("cs-li", "§2.3.1", "decided")
    assert sanctions[1][:5] == [violation.number, "cs-li", "§2.3.1", "fine", "120.00"]
    assert "13912345678" not in flat


def test_a_registered_evidence_kind_resolves_within_the_tenant_only(tenant: Tenant) -> None:
    def resolve(owner: Tenant, object_id: str) -> EvidenceTarget | None:
        return EvidenceTarget(f"Record {object_id}", "") if owner.pk == tenant.pk else None

    register_evidence_kind("test_record", "Test record", resolve)
    try:
        found = resolve_evidence(tenant, "test_record", "F-7")
        with pytest.raises(ValidationError) as error:
            resolve_evidence(TenantFactory(), "test_record", "F-7")
    finally:
        unregister_evidence_kind("test_record")
    assert (found.label, error.value.message_dict) == (
        "Record F-7",
        {"object_id": ["Test record F-7 not found in your tenant."]},
    )


def test_registering_a_kind_twice_differently_is_refused() -> None:
    def first(tenant: Tenant, object_id: str) -> Any:
        return None

    def second(tenant: Tenant, object_id: str) -> Any:
        return None

    register_evidence_kind("test_alert", "Alert", first)
    try:
        with pytest.raises(ValueError, match="already registered differently"):
            register_evidence_kind("test_alert", "Alert", second)
    finally:
        unregister_evidence_kind("test_alert")
