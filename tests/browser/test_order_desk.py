"""Customer service's order desk in real Chromium at 1280 px (and 1024 px): land on the
desk, find an order by its code typed in lower case without the dash, find a customer's
orders by the phone typed with spaces (the phone never in the page or the URL), open one.
No horizontal scrolling, no CSP violation, axe finds no serious or critical violation.
Screenshots in artifacts/browser/ and, if set, in $BAOMI_SCREENSHOTS."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from incidents.models import AnomalyKind
from incidents.services import report_anomaly
from tenants.actors import SystemActor
from tenants.models import Role
from tests.browser.conftest import ARTIFACTS
from tests.browser.roles import with_session
from tests.browser.test_csp import RECORD_VIOLATIONS
from tests.factories import OrderFactory, PrivacyNoticeFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

PHONE = "13812345678"
CUSTOMER = {"name": "欧阳娜娜", "phone": PHONE, "address": "上海市浦东新区张江路88号7栋1201室"}


@pytest.fixture
def office(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    page = context.new_page()
    page.add_init_script(RECORD_VIOLATIONS)
    page.urls_visited = []
    page.on("request", lambda request: page.urls_visited.append(request.url))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield page
    context.close()


def _shot(page: Any, name: str) -> None:
    folders = [ARTIFACTS]
    if os.environ.get("BAOMI_SCREENSHOTS"):
        folders.append(Path(os.environ["BAOMI_SCREENSHOTS"]))
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def _fits_and_is_accessible(page: Any, axe_source: str, name: str) -> None:
    _shot(page, name)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    csp = page.evaluate("window.__cspViolations || []")  # before axe, which adds styles
    page.evaluate("() => {\n" + axe_source + "\n}")
    violations = page.evaluate("""async () => (await axe.run('#content', {resultTypes: ['violations']}))
        .violations.filter(v => ['serious', 'critical'].includes(v.impact))
        .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.html.slice(0, 120)).join(' | '))""")
    assert (name, overflow, violations, csp) == (name, 0, [], [])


def test_customer_service_finds_orders_by_code_and_by_phone_at_the_desk(
    office: Any, live_server: Any, axe_source: str
) -> None:
    tenant = PrivacyNoticeFactory().tenant
    agent = UserFactory(tenant=tenant, username="cs-wang", roles=[Role.CUSTOMER_SERVICE])
    by_code = OrderFactory(tenant=tenant)
    by_phone = [OrderFactory(tenant=tenant, customer=CUSTOMER) for _ in range(2)]
    report_anomaly(order=by_code, kind=AnomalyKind.PIN_LOCKED, actor=SystemActor("tests"))
    base = live_server.url
    with_session(office, base, agent)

    office.goto(f"{base}/admin/")
    office.get_by_role("link", name="Order desk").first.click()
    office.wait_for_url("**/admin/orders/order/desk/")
    assert by_code.code in office.locator("#desk-queue-open-anomalies").inner_text()
    _fits_and_is_accessible(office, axe_source, "desk-01-landing-1280")
    office.set_viewport_size({"width": 1024, "height": 800})
    office.reload()
    _fits_and_is_accessible(office, axe_source, "desk-02-landing-1024")
    office.set_viewport_size({"width": 1280, "height": 800})

    # By code: lower case, no dash; straight to the order.
    office.get_by_label("Order code or phone number").fill(by_code.code.replace("-", "").lower())
    with office.expect_navigation():
        office.get_by_role("button", name="Search").click()
    assert f"/admin/orders/order/{by_code.pk}/change/" in office.url
    assert by_code.code in office.locator("#content").inner_text()
    _shot(office, "desk-03-order-by-code-1280")

    # By phone: typed with spaces; the results list the customer's orders, masked.
    office.goto(f"{base}/admin/orders/order/desk/")
    office.get_by_label("Order code or phone number").fill("138 1234 5678")
    with office.expect_navigation():
        office.get_by_role("button", name="Search").click()
    results = office.locator("#desk-results")
    text = results.inner_text()
    assert ("?r=" in office.url, all(o.code in text for o in by_phone)) == (True, True)
    assert office.get_by_label("Order code or phone number").input_value() == ""
    _fits_and_is_accessible(office, axe_source, "desk-04-phone-results-1280")
    office.set_viewport_size({"width": 1024, "height": 800})
    office.reload()  # a GET: the same results, no new search
    _fits_and_is_accessible(office, axe_source, "desk-05-phone-results-1024")
    office.set_viewport_size({"width": 1280, "height": 800})

    with office.expect_navigation():
        results.get_by_role("link", name=by_phone[0].code).click()
    assert f"/admin/orders/order/{by_phone[0].pk}/change/" in office.url
    _shot(office, "desk-06-order-by-phone-1280")

    # The phone was typed, never shown: not in any page or URL of the walk.
    assert [u for u in office.urls_visited if PHONE in u.replace("%20", "").replace("+", "")] == []
    assert PHONE not in office.content()
