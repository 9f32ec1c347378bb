"""The pages under their Content-Security-Policy in real Chromium: the back office's login,
an order and Swagger UI at 1280 px, the rider's pages at 360 px. The run fails on any CSP
violation the browser reports and on any request to another origin than the test server.
Screenshots go to artifacts/browser/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from riders.dispatch import assign_rider
from tenants.models import Role
from tests.browser.conftest import ARTIFACTS
from tests.factories import PASSWORD, TenantFactory, UserFactory
from tests.riders.conftest import make_rider, packed_order

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

# Reported by the page itself, whatever the console says (init scripts are exempt from CSP).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


class Watched:
    """A page whose CSP violations and requests to other origins are collected."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.refused: list[str] = []
        self.foreign: list[str] = []
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.refused.append(f"page error: {error}"))
        page.on("request", self._request)

    def _console(self, message: Any) -> None:
        # Alpine's CSP build reports an expression it cannot evaluate (a statement, a global)
        # as "Alpine Expression Error" (docs/decisions/0010).
        if any(
            sign in message.text
            for sign in ("Refused to", "Content Security Policy", "Alpine Expression Error")
        ):
            self.refused.append(message.text)

    def _request(self, request: Any) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in {"data", "blob", "about"}:
            return
        if parts.hostname not in {"localhost", "127.0.0.1"}:
            self.foreign.append(request.url)

    def problems(self, name: str) -> tuple[str, list[str], list[str], list[str]]:
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        reported = self.page.evaluate("window.__cspViolations || []")
        return (name, self.refused, reported, self.foreign)


def _watched(browser: Any, **context: Any) -> Iterator[Watched]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    opened = browser.new_context(locale="en-US", **context)
    yield Watched(opened.new_page())
    opened.close()


@pytest.fixture
def desk(browser: Any, live_server: Any) -> Iterator[Watched]:
    yield from _watched(browser, viewport={"width": 1280, "height": 900})


@pytest.fixture
def handset(browser: Any, live_server: Any) -> Iterator[Watched]:
    yield from _watched(
        browser,
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )


def test_back_office_login_order_and_api_docs_run_under_the_csp(
    desk: Watched, live_server: Any
) -> None:
    tenant = TenantFactory()
    order = packed_order(tenant)
    make_rider(tenant)
    dispatcher = UserFactory(tenant=tenant, roles=[Role.DISPATCHER])
    base, page = live_server.url, desk.page

    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", dispatcher.username)
    page.fill("#id_password", PASSWORD)
    login = desk.problems("20-csp-admin-login")
    page.click("#login-form [type=submit]")
    page.goto(f"{base}/admin/orders/order/{order.pk}/change/")
    page.wait_for_selector("#dispatch")
    # unfold's Alpine components run (the CSP build): the sidebar toggles, the user menu opens.
    page.get_by_text("dock_to_right").first.click()
    page.locator("#nav-sidebar-apps, [x-data]").first.wait_for()
    order_page = desk.problems("21-csp-admin-order")
    started = page.evaluate("Boolean(window.Alpine && document.body._x_dataStack)")
    page.goto(f"{base}/api/docs/")
    page.wait_for_selector("#swagger-ui .opblock-tag", state="visible")
    title = page.locator("#swagger-ui .info .title").inner_text()
    docs = desk.problems("22-csp-api-docs")
    assert (login, order_page, docs, title.startswith("Baomi API"), started) == (
        ("20-csp-admin-login", [], [], []),
        ("21-csp-admin-order", [], [], []),
        ("22-csp-api-docs", [], [], []),
        True,
        True,
    )


def test_the_language_menu_switches_without_inline_script(desk: Watched, live_server: Any) -> None:
    page = desk.page
    page.goto(f"{live_server.url}/admin/login/")
    with page.expect_navigation():
        page.click(".baomi-language button[value=zh-hans]")
    assert (page.locator("html").get_attribute("lang"), desk.problems("23-csp-language")) == (
        "zh-hans",
        ("23-csp-language", [], [], []),
    )


def test_rider_pages_at_360_px_run_under_the_csp(handset: Watched, live_server: Any) -> None:
    tenant = TenantFactory()
    order = packed_order(tenant)
    rider = make_rider(tenant)
    assign_rider(
        order=order, rider=rider, actor=UserFactory(tenant=tenant, roles=[Role.DISPATCHER])
    )
    base, page = live_server.url, handset.page

    page.goto(f"{base}/rider/login/")
    page.fill("#id_username", rider.user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector(f"[data-order='{order.code}'] a")
    home = handset.problems("24-csp-rider-home")
    page.click(f"[data-order='{order.code}'] a")
    page.wait_for_selector("#pickup-form")
    detail = handset.problems("25-csp-rider-order")
    assert (home, detail) == (
        ("24-csp-rider-home", [], [], []),
        ("25-csp-rider-order", [], [], []),
    )
