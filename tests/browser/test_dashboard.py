"""A supervisor opens the supervisor dashboard (issue 20, point 1) in real Chromium at 1280
and 1024 px, in English and in Chinese: the page fits the width, axe-core finds no serious
or critical violation, the CSP is clean (the charts are drawn by unfold's local Chart.js),
the period is changed, and a number leads to its filtered list; no customer's data is on
the page. Screenshots in artifacts/browser/dashboard-*.png."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from tenants.models import Role
from tests.browser.roles import overflow, step, with_session
from tests.factories import (
    ErasureLedgerEntryFactory,
    OrderFactory,
    TenantFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

CUSTOMER_VALUES = ("欧阳娜娜", "13912345678", "张江路", "宫保鸡丁")


def _seed() -> Any:
    from incidents.cases import open_case
    from tenants.actors import SystemActor
    from training.starter import seed_training

    tenant = TenantFactory(name="Shanghai Eats")
    seed_training(tenant, SystemActor("tests"))
    supervisor = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR], username="sup-zhou")
    OrderFactory(tenant=tenant)
    # Erasures today: the erasure panel draws its chart (Chart.js under the CSP).
    ErasureLedgerEntryFactory.create_batch(3, tenant=tenant)
    ErasureLedgerEntryFactory(tenant=tenant, reason="customer_request")
    open_case(
        tenant=tenant,
        title="A lost phone",
        severity="major",
        severity_reason="Label photos on the phone",
        kind="lost_device",
        data_categories=["name", "address"],
        affected_customers=2,
        discovered_at=timezone.now() - timedelta(hours=6),
        discovered_by="Dispatcher on duty",
        is_drill=False,
        actor=supervisor,
    )
    return supervisor


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_supervisor_reads_the_dashboard_changes_the_period_and_follows_a_number(
    desktop: Any, live_server: Any, axe_source: str, language: str
) -> None:
    supervisor = _seed()
    base = live_server.url
    with_session(desktop, base, supervisor, language=language)
    desktop.goto(f"{base}/admin/")  # a supervisor lands on the dashboard
    desktop.wait_for_selector("#supervisor-dashboard")
    landed = desktop.url
    drawn = desktop.evaluate(
        "() => Chart.getChart(document.querySelector('#erasure-chart canvas')) !== undefined"
    )
    checks = [step(desktop, axe_source, f"dashboard-{language}-1280")]
    widths = {"1280": overflow(desktop)}
    html = desktop.content()
    desktop.set_viewport_size({"width": 1024, "height": 800})
    desktop.reload()
    checks.append(step(desktop, axe_source, f"dashboard-{language}-1024"))
    widths["1024"] = overflow(desktop)

    desktop.click("a[data-preset='7d']")
    desktop.wait_for_load_state()
    preset_url = desktop.url
    desktop.fill("#id_since", "2026-11-01")
    desktop.fill("#id_until", "2026-10-01")
    desktop.click("#dashboard-range button[type=submit]")
    desktop.wait_for_load_state()
    error = desktop.locator("#error-until").inner_text()
    checks.append(step(desktop, axe_source, f"dashboard-{language}-range-error-1024"))

    desktop.goto(f"{base}/supervisor/?period=30d")
    desktop.click("[data-panel='incidents.overview'] [data-count='overdue_reports'] a")
    desktop.wait_for_load_state()
    followed = desktop.url
    checks.append(step(desktop, axe_source, f"dashboard-{language}-followed-1024"))
    assert (
        landed.endswith("/supervisor/"),
        drawn,
        preset_url.endswith("/supervisor/?period=7d"),
        bool(error),
        followed.endswith("/admin/incidents/incidentcase/?clock=overdue"),
        checks,
        widths,
        [value in html for value in CUSTOMER_VALUES],
        f'lang="{language}"' in html,
    ) == (
        True,
        True,
        True,
        True,
        True,
        [
            (f"dashboard-{language}-1280", [], []),
            (f"dashboard-{language}-1024", [], []),
            (f"dashboard-{language}-range-error-1024", [], []),
            (f"dashboard-{language}-followed-1024", [], []),
        ],
        {"1280": {"page": 0, "elements": []}, "1024": {"page": 0, "elements": []}},
        [False] * len(CUSTOMER_VALUES),
        True,
    )


def test_a_number_of_the_audit_log_lands_on_the_filtered_list(
    desktop: Any, live_server: Any, axe_source: str
) -> None:
    supervisor = _seed()
    base = live_server.url
    with_session(desktop, base, supervisor)
    desktop.goto(f"{base}/supervisor/")  # one dashboard.viewed event of the supervisor
    today = timezone.localdate().isoformat()
    desktop.goto(
        f"{base}/admin/audits/auditevent/?action=dashboard.viewed&actor=user:{supervisor.pk}"
        f"&since={today}&until={today}"
    )
    desktop.wait_for_selector("#result_list")
    checks = [step(desktop, axe_source, "dashboard-audit-list-filtered-1280")]
    text = (
        desktop.locator("#changelist-filter").inner_text()
        if desktop.locator("#changelist-filter").count()
        else desktop.content()
    )
    assert (checks, "sup-zhou" in text) == ([("dashboard-audit-list-filtered-1280", [], [])], True)
