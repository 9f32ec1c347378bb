"""The audit list in real Chromium, in Chinese, at 1280 and 1024 px: every column fits (no
horizontal scrolling of the page or of the table), and axe finds no serious or critical
violations; then the event's page. Screenshots in artifacts/browser/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from audits.services import record_event
from privacy.permissions import Purpose
from tenants.actors import SystemActor
from tenants.models import Role
from tests.browser.conftest import ARTIFACTS
from tests.browser.roles import with_session
from tests.browser.test_csp import RECORD_VIOLATIONS
from tests.factories import OrderFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


@pytest.fixture
def desk(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    page.add_init_script(RECORD_VIOLATIONS)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield page
    context.close()


def _fits_and_is_accessible(page: Any, axe_source: str, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    table_overflow = page.evaluate(
        """() => { const r = document.querySelector('#changelist .results');
        return r ? r.scrollWidth - r.clientWidth : 0; }"""
    )
    csp = page.evaluate("window.__cspViolations || []")  # before axe, which adds styles
    page.evaluate("() => {\n" + axe_source + "\n}")
    violations = page.evaluate("""async () => (await axe.run('#content', {resultTypes: ['violations']}))
        .violations.filter(v => ['serious', 'critical'].includes(v.impact))
        .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.html.slice(0, 120)).join(' | '))""")
    assert (name, overflow, table_overflow, violations, csp) == (name, 0, 0, [], [])


def test_the_audit_list_fits_at_1280_and_1024_px_in_chinese(
    desk: Any, live_server: Any, axe_source: str
) -> None:
    tenant = TenantFactory()
    supervisor = UserFactory(tenant=tenant, username="supervisor-li", roles=[Role.SUPERVISOR])
    agent = UserFactory(
        tenant=tenant,
        username="customer-service-wang",
        roles=[Role.CUSTOMER_SERVICE, Role.DISPATCHER, Role.TENANT_ADMIN],
    )
    orders = [OrderFactory(tenant=tenant) for _ in range(3)]
    for order in orders:
        record_event(
            tenant=tenant,
            actor=agent,
            action="privacy.reveal_denied",
            target=order,
            purpose=Purpose.CUSTOMER_SERVICE_CALL,
            fields=["name", "phone", "address", "note"],
        )
    record_event(
        tenant=tenant,
        actor=SystemActor("retention-sweep"),
        action="privacy.backup_overdue",
        object_type="privacy.privacynotice",
        object_id="0c6f3f5e-5d2b-4a3c-9d5e-2f1a6b7c8d9e",
    )
    base = live_server.url
    with_session(desk, base, supervisor, language="zh-hans")

    desk.goto(f"{base}/admin/audits/auditevent/")
    assert desk.locator("#result_list tbody tr").count() >= 4
    assert orders[0].code in desk.locator("#result_list").inner_text()
    _fits_and_is_accessible(desk, axe_source, "audit-01-list-1280-zh")
    desk.set_viewport_size({"width": 1024, "height": 800})
    desk.reload()
    _fits_and_is_accessible(desk, axe_source, "audit-02-list-1024-zh")

    desk.fill("#searchbar", orders[1].code)
    with desk.expect_navigation():
        desk.press("#searchbar", "Enter")
    rows = desk.locator("#result_list tbody tr")
    assert rows.count() >= 1 and orders[1].code in rows.first.inner_text()
    desk.set_viewport_size({"width": 1280, "height": 800})
    with desk.expect_navigation():
        rows.first.locator("th a").click()
    assert "customer-service-wang" in desk.locator("#content").inner_text()
    desk.locator("fieldset.audit-stored summary").click()
    _fits_and_is_accessible(desk, axe_source, "audit-03-event-1280-zh")
