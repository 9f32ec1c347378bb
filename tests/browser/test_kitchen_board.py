"""The kitchen board in real Chromium on a wall-screen width (1280 px, then 1024 px): three
status columns side by side that fit without clipping; the cook starts an order and sees it
move to Preparing (POST→redirect→GET); the board then refreshes itself without a page load
(a new order appears, "Updated" moves on), under the Content-Security-Policy and with no
serious or critical axe-core violation. Screenshots go to $BAOMI_SCREENSHOTS when set,
else to artifacts/browser/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orders import views
from orders.lifecycle import mark_food_ready, transition_order
from orders.models import Status
from tenants.models import Role
from tests.browser.conftest import ARTIFACTS
from tests.browser.roles import with_session
from tests.browser.test_csp import RECORD_VIOLATIONS
from tests.factories import OrderFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

ANOTHER_CUSTOMER = {"name": "王五", "phone": "13800001111", "address": "北京市朝阳区A路1号"}


def _screenshots() -> Path:
    folder = Path(os.environ.get("BAOMI_SCREENSHOTS") or ARTIFACTS)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def wall(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.add_init_script(RECORD_VIOLATIONS)
    yield page
    context.close()


def _codes(page: Any, column: str) -> list[str]:
    return page.locator(f"[data-column={column}] [data-order]").evaluate_all(
        "els => els.map(e => e.dataset.order)"
    )


def _check_board(page: Any, axe_source: str, name: str, columns: int = 3) -> None:
    """``columns`` columns side by side, nothing wider than the window or clipped inside a
    column, no CSP violation, no serious or critical axe violation."""
    page.screenshot(path=str(_screenshots() / f"{name}.png"), full_page=True)
    tops = page.locator(".board > .column").evaluate_all(
        "els => els.map(e => Math.round(e.getBoundingClientRect().top))"
    )
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    clipped = page.evaluate("""() => [...document.querySelectorAll('.board *')]
        .filter(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflow !== 'visible')
        .concat([...document.querySelectorAll('.board > .column')]
            .filter(c => c.scrollWidth > c.clientWidth + 1))
        .map(e => e.outerHTML.slice(0, 60))""")
    csp = page.evaluate("window.__cspViolations || []")  # before axe, which adds styles
    page.evaluate("() => {\n" + axe_source + "\n}")
    violations = page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']}))
        .violations.filter(v => ['serious', 'critical'].includes(v.impact))
        .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.html.slice(0, 120)).join(' | '))""")
    assert (name, len(tops), len(set(tops)), overflow, clipped, csp, violations) == (
        name,
        columns,
        1,
        0,
        [],
        [],
        [],
    )


def test_the_cook_starts_an_order_and_the_board_refreshes_itself(
    wall: Any, live_server: Any, axe_source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "BOARD_REFRESH_SECONDS", 2)  # the live server shares this process
    tenant = TenantFactory()
    cook = UserFactory(tenant=tenant, username="cook-zhang", roles=[Role.KITCHEN])
    first, second = OrderFactory(tenant=tenant), OrderFactory(tenant=tenant)
    preparing = OrderFactory(tenant=tenant)
    transition_order(order=preparing, to=Status.PREPARING, actor=cook)
    ready = OrderFactory(tenant=tenant)
    transition_order(order=ready, to=Status.PREPARING, actor=cook)
    mark_food_ready(order=ready, actor=cook)
    base = live_server.url
    with_session(wall, base, cook)

    wall.goto(f"{base}/orders/kitchen/")
    assert (_codes(wall, "received"), _codes(wall, "preparing"), _codes(wall, "ready")) == (
        [first.code, second.code],
        [preparing.code],
        [ready.code],
    )
    _check_board(wall, axe_source, "kitchen-01-board-1280")

    with wall.expect_navigation():
        wall.locator(f"[data-column=received] [data-order='{first.code}'] button").click()
    assert (
        wall.url,
        _codes(wall, "received"),
        _codes(wall, "preparing"),
        wall.locator("[data-column=preparing] [data-count]").inner_text(),
        wall.locator(".messages").inner_text(),
    ) == (
        f"{base}/orders/kitchen/",
        [second.code],
        [first.code, preparing.code],
        "2",
        f"Order {first.code}: preparing.",
    )
    _check_board(wall, axe_source, "kitchen-02-started-1280")

    # A new order arrives; the board shows it by itself, in the same document (no reload).
    updated = wall.locator("#board-updated time").inner_text()
    wall.evaluate("window.__sameDocument = true")
    newcomer = OrderFactory(tenant=tenant, customer=ANOTHER_CUSTOMER)
    wall.locator(f"[data-column=received] [data-order='{newcomer.code}']").wait_for(timeout=10_000)
    assert (
        wall.evaluate("window.__sameDocument === true"),
        wall.locator("#board-updated time").inner_text() != updated,
        wall.locator(".messages").count(),
        _codes(wall, "received"),
    ) == (True, True, 0, [second.code, newcomer.code])
    _check_board(wall, axe_source, "kitchen-03-refreshed-1280")

    wall.set_viewport_size({"width": 1024, "height": 800})
    _check_board(wall, axe_source, "kitchen-04-board-1024")


def test_the_packing_station_fits_at_1280_and_1024_px(
    wall: Any, live_server: Any, axe_source: str
) -> None:
    tenant = TenantFactory()
    cook = UserFactory(tenant=tenant, roles=[Role.KITCHEN])
    packer = UserFactory(tenant=tenant, username="packer-li", roles=[Role.PACKER])
    ready, packed = OrderFactory(tenant=tenant), OrderFactory(tenant=tenant)
    for order in (ready, packed):
        transition_order(order=order, to=Status.PREPARING, actor=cook)
        mark_food_ready(order=order, actor=cook)
    transition_order(order=packed, to=Status.PACKED, actor=packer, seal_number="SEAL-2024")
    base = live_server.url
    with_session(wall, base, packer)

    wall.goto(f"{base}/orders/packing/")
    _check_board(wall, axe_source, "packing-01-1280", columns=2)
    wall.set_viewport_size({"width": 1024, "height": 800})
    _check_board(wall, axe_source, "packing-02-1024", columns=2)
    wall.fill(f"#seal-{ready.code}", "SEAL-2025")
    with wall.expect_navigation():
        wall.locator(f"[data-order='{ready.code}'] button").click()
    packed_codes = wall.locator("[data-packed]").evaluate_all(
        "els => els.map(e => e.dataset.packed)"
    )
    assert (wall.locator("[data-order]").count(), sorted(packed_codes)) == (
        0,
        sorted([ready.code, packed.code]),
    )
    _check_board(wall, axe_source, "packing-03-packed-1024", columns=2)
