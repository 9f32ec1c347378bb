"""A supervisor handles anomalous-access alerts (issue 20, point 2) in real Chromium at
1280 px, in English and in Chinese: opens the alert list, acknowledges one alert, promotes
another to an incident case and lands on the case, which links back. axe-core finds no
serious or critical violation, the CSP is clean, the page fits the width, and no customer's
data is on any page. Screenshots in artifacts/browser/alerts-*.png."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from tenants.models import Role
from tests.browser.roles import overflow, step, with_session
from tests.factories import AccessAlertFactory, OrderFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

CUSTOMER_VALUES = ("欧阳娜娜", "13912345678", "张江路", "宫保鸡丁")


def _seed() -> tuple[Any, Any, Any]:
    tenant = TenantFactory(name="Shanghai Eats")
    supervisor = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR], username="sup-zhou")
    order = OrderFactory(tenant=tenant)
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE], username="cs-wang")
    packer = UserFactory(tenant=tenant, roles=[Role.KITCHEN], username="kitchen-li")
    from tests.factories import AuditEventFactory

    burst = AccessAlertFactory(
        tenant=tenant,
        user=agent,
        fired_by=AuditEventFactory(tenant=tenant, actor=agent, object_id=str(order.pk)),
    )
    unassigned = AccessAlertFactory(
        tenant=tenant,
        user=packer,
        rule="reveal_unassigned",
        fired_by=AuditEventFactory(tenant=tenant, actor=packer, object_id=str(order.pk)),
    )
    return supervisor, burst, unassigned


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_supervisor_acknowledges_one_alert_and_promotes_another(
    desktop: Any, live_server: Any, axe_source: str, language: str
) -> None:
    supervisor, burst, unassigned = _seed()
    base = live_server.url
    with_session(desktop, base, supervisor, language=language)
    desktop.goto(base + reverse("admin:audits_accessalert_changelist"))
    checks = [step(desktop, axe_source, f"alerts-{language}-01-list-1280")]
    widths = {"list": overflow(desktop)}
    html = desktop.content()

    desktop.goto(base + reverse("admin:audits_accessalert_change", args=[burst.pk]))
    checks.append(step(desktop, axe_source, f"alerts-{language}-02-alert-1280"))
    widths["alert"] = overflow(desktop)
    html += desktop.content()
    with desktop.expect_navigation():
        desktop.click("#alert-acknowledge")
    acknowledged = desktop.get_attribute("#alert-page", "data-state")
    checks.append(step(desktop, axe_source, f"alerts-{language}-03-acknowledged-1280"))

    desktop.goto(base + reverse("admin:audits_accessalert_change", args=[unassigned.pk]))
    with desktop.expect_navigation():
        desktop.click("#alert-promote")
    on_case = "/admin/incidents/incidentcase/" in desktop.url
    checks.append(step(desktop, axe_source, f"alerts-{language}-04-case-1280"))
    widths["case"] = overflow(desktop)
    back_link = desktop.get_attribute("#case-alert-link", "href")
    html += desktop.content()
    assert (
        checks,
        widths,
        acknowledged,
        on_case,
        back_link,
        [value in html for value in CUSTOMER_VALUES],
    ) == (
        [
            (f"alerts-{language}-01-list-1280", [], []),
            (f"alerts-{language}-02-alert-1280", [], []),
            (f"alerts-{language}-03-acknowledged-1280", [], []),
            (f"alerts-{language}-04-case-1280", [], []),
        ],
        {
            "list": {"page": 0, "elements": []},
            "alert": {"page": 0, "elements": []},
            "case": {"page": 0, "elements": []},
        },
        "acknowledged",
        True,
        reverse("admin:audits_accessalert_change", args=[unassigned.pk]),
        [False] * len(CUSTOMER_VALUES),
    )


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_privacy_officer_changes_the_thresholds(
    desktop: Any, live_server: Any, axe_source: str, language: str
) -> None:
    tenant = TenantFactory(name="Shanghai Eats")
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER], username="po-lin")
    base = live_server.url
    with_session(desktop, base, officer, language=language)
    desktop.goto(base + reverse("admin:audits_accessalert_changelist"))
    with desktop.expect_navigation():
        desktop.click("#alert-settings-link")
    checks = [step(desktop, axe_source, f"alerts-{language}-05-thresholds-1280")]
    widths = {"thresholds": overflow(desktop)}
    desktop.fill("#id_reveal_burst_count", "1")
    with desktop.expect_navigation():
        desktop.click("#alert-settings-save")
    refused = desktop.locator("#id_reveal_burst_count_errors").count()
    checks.append(step(desktop, axe_source, f"alerts-{language}-06-thresholds-refused-1280"))
    desktop.fill("#id_reveal_burst_count", "80")
    with desktop.expect_navigation():
        desktop.click("#alert-settings-save")
    saved = desktop.input_value("#id_reveal_burst_count")
    assert (checks, widths, refused, saved) == (
        [
            (f"alerts-{language}-05-thresholds-1280", [], []),
            (f"alerts-{language}-06-thresholds-refused-1280", [], []),
        ],
        {"thresholds": {"page": 0, "elements": []}},
        1,
        "80",
    )
