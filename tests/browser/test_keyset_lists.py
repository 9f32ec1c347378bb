"""The back office's long lists paged by keyset (issue 21) in real Chromium at 1280 px, in
English and Chinese: the order list and the audit log show their pager (上一页/下一页 on
Chinese pages), Next and Previous move by a page, nothing overflows, and axe finds no serious
or critical violations. Screenshots in artifacts/browser/keyset-*.png."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin import site

from audits.models import AuditEvent
from audits.services import Event, record_events
from orders.models import Order
from tenants.actors import SystemActor
from tenants.models import Role
from tests.browser.conftest import desk_page
from tests.browser.roles import axe_violations, csp_violations, shot, with_session
from tests.factories import OrderFactory, PrivacyNoticeFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

PAGE = 3
EMPTY = {"en": "No results found", "zh-hans": "没有找到结果"}


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(site._registry[Order], "list_per_page", PAGE)
    monkeypatch.setattr(site._registry[AuditEvent], "list_per_page", PAGE)


def _rows(page: Any) -> list[str]:
    """The rows' links to their pages (each row's first link)."""
    return page.eval_on_selector_all(
        "#result_list tbody tr", "rows => rows.map(r => r.querySelector('a').getAttribute('href'))"
    )


def _pages_through(page: Any, words: tuple[str, str], name: str, axe_source: str) -> None:
    previous, following = words
    first = _rows(page)
    pager = page.locator(".keyset-pager").inner_text()
    assert (previous in pager, following in pager, len(first)) == (True, True, PAGE)
    shot(page, f"keyset-{name}-first")  # before axe, which adds styles
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    csp = csp_violations(page)
    assert (overflow, axe_violations(page, axe_source, "#content"), csp) == (0, [], [])
    page.locator("#page-next").click()
    page.wait_for_load_state()
    second = _rows(page)
    assert (len(second), set(first) & set(second)) == (PAGE, set())
    shot(page, f"keyset-{name}-second")
    page.locator("#page-previous").click()
    page.wait_for_load_state()
    assert _rows(page) == first


@pytest.mark.parametrize(
    ("locale", "language", "words"),
    [("en-US", "en", ("Previous page", "Next page")), ("zh-CN", "zh-hans", ("上一页", "下一页"))],
)
def test_the_order_list_and_the_audit_log_page_at_1280_px(
    browser: Any, live_server: Any, axe_source: str, locale: str, language: str, words: Any
) -> None:
    notice = PrivacyNoticeFactory()
    tenant = notice.tenant
    for _ in range(PAGE * 2 + 1):
        OrderFactory(tenant=tenant)
    record_events(
        tenant=tenant,
        actor=SystemActor("retention-sweep"),
        events=[Event(action="privacy.search") for _ in range(PAGE * 2)],
    )
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE, Role.SUPERVISOR])
    page = desk_page(browser, locale)
    try:
        with_session(page, live_server.url, agent, language=language)
        page.goto(f"{live_server.url}/admin/orders/order/")
        _pages_through(page, words, f"orders-{language}", axe_source)
        page.goto(f"{live_server.url}/admin/audits/auditevent/")
        _pages_through(page, words, f"audit-{language}", axe_source)
        # A search that finds nothing: the empty list in the page's language (our own
        # strings: unfold ships none in zh-Hans).
        page.goto(f"{live_server.url}/admin/orders/order/?q=NOPE")
        shot(page, f"keyset-orders-{language}-empty")
        empty = page.locator("#content").inner_text()
        assert (EMPTY[language] in empty, "No results found" in empty) == (True, language == "en")
    finally:
        page.context.close()
