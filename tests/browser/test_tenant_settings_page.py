"""A tenant administrator's settings in real Chromium at 1280 and 1024 px: the page fits, axe
finds no serious or critical violations, the CSP is kept; moving the tenant to Berlin and
turning on the PIN SMS saves once, says so after the redirect, and a reload writes nothing.
Screenshots in artifacts/browser/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from audits.models import AuditEvent
from tenants.models import Role, Tenant
from tenants.scoping import tenant_scope
from tests.browser.conftest import ARTIFACTS
from tests.browser.roles import with_session
from tests.browser.test_csp import RECORD_VIOLATIONS
from tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

URL = "/admin/tenants/tenant/settings/"


@pytest.fixture
def desk(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    page = context.new_page()
    page.add_init_script(RECORD_VIOLATIONS)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield page
    context.close()


def _fits_and_is_accessible(page: Any, axe_source: str, name: str) -> list[Any]:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    csp = page.evaluate("window.__cspViolations || []")  # before axe, which adds styles
    page.evaluate("() => {\n" + axe_source + "\n}")
    violations = page.evaluate("""async () => (await axe.run('#content', {resultTypes: ['violations']}))
        .violations.filter(v => ['serious', 'critical'].includes(v.impact))
        .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.html.slice(0, 120)).join(' | '))""")
    return [name, overflow, violations, csp]


def _settings_events(tenant: Tenant) -> int:
    with tenant_scope(tenant):
        return AuditEvent.objects.filter(action="tenant.settings_changed").count()


def test_a_tenant_admin_moves_the_tenant_to_berlin_and_turns_on_the_pin_sms(
    desk: Any, live_server: Any, axe_source: str
) -> None:
    tenant = TenantFactory(name="Shanghai Eats")
    with_session(desk, live_server.url, UserFactory(tenant=tenant, roles=[Role.TENANT_ADMIN]))
    desk.goto(live_server.url + URL)
    checks = [_fits_and_is_accessible(desk, axe_source, "tenant-settings-1280")]
    desk.set_viewport_size({"width": 1024, "height": 800})
    checks.append(_fits_and_is_accessible(desk, axe_source, "tenant-settings-1024"))
    desk.set_viewport_size({"width": 1280, "height": 800})

    desk.select_option("select[name=time_zone]", "Europe/Berlin")
    desk.check("input[name=send_pin_by_sms]")
    desk.click("#tenant-settings button[type=submit]")
    desk.wait_for_url(live_server.url + URL)
    saved = desk.locator("#main").inner_text()
    checks.append(_fits_and_is_accessible(desk, axe_source, "tenant-settings-saved"))
    desk.reload()
    reloaded = desk.locator("#main").inner_text()
    tenant.refresh_from_db()
    assert (
        checks,
        "Settings saved" in saved,
        "Local time now in Europe/Berlin" in saved,
        "Settings saved" in reloaded,
        (tenant.time_zone, tenant.send_pin_by_sms),
        _settings_events(tenant),
    ) == (
        [
            ["tenant-settings-1280", 0, [], []],
            ["tenant-settings-1024", 0, [], []],
            ["tenant-settings-saved", 0, [], []],
        ],
        True,
        True,
        False,
        ("Europe/Berlin", True),
        1,
    )
