"""The dispatcher's day in real Chromium at 1280 px: log in at /admin/ and land on the
dispatch board, see the waiting orders and the riders (an unsigned rider with the reason),
assign one order to a chosen rider and another to the least-loaded one in one click each,
reload (nothing is assigned again), then the board at 1024 px. No CSP violation, no request
to another origin, no horizontal scrolling, no serious or critical axe-core violation.
Screenshots go to artifacts/browser/ and to $BAOMI_SCREENSHOTS when set."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from orders.models import Order, Status
from riders.selectors import live_assignment
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_csp import Watched
from tests.factories import PASSWORD, TenantFactory, UserFactory
from tests.riders.conftest import make_rider, packed_order

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

BOARD = "/admin/orders/order/dispatch/"


@pytest.fixture
def desk(browser: Any, live_server: Any) -> Any:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    yield Watched(context.new_page())
    context.close()


def _shot(page: Any, name: str) -> None:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    extra = os.environ.get("BAOMI_SCREENSHOTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / path.name)


def _checked(watched: Any, axe_source: str, name: str) -> tuple[Any, ...]:
    page = watched.page
    _shot(page, name)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    reported = page.evaluate("window.__cspViolations || []")  # before axe, which adds styles
    page.evaluate("() => {\n" + axe_source + "\n}")
    violations = page.evaluate("""async () => (await axe.run('#content', {resultTypes: ['violations']}))
        .violations.filter(v => ['serious', 'critical'].includes(v.impact))
        .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.html.slice(0, 120)).join(' | '))""")
    return (name, overflow, violations, watched.refused, reported, watched.foreign)


def _clean(name: str) -> tuple[Any, ...]:
    return (name, 0, [], [], [], [])


def _rider_of(order: Order) -> tuple[str, int | None]:
    with tenant_scope(order.tenant):
        current = live_assignment(order)
        return Order.objects.get(pk=order.pk).status, current.rider_id if current else None


def test_dispatcher_assigns_from_the_board_in_chromium(
    desk: Any, live_server: Any, axe_source: str
) -> None:
    tenant = TenantFactory()
    first, second = packed_order(tenant), packed_order(tenant)
    with tenant_scope(tenant):
        Order.objects.filter(pk=first.pk).update(
            status_changed_at=timezone.now() - timedelta(minutes=25)
        )
    chosen = make_rider(tenant, username="rider-wang")
    idle = make_rider(tenant, username="rider-chen")
    make_rider(tenant, username="rider-new", signed=False)
    make_rider(tenant, username="rider-off", on_shift=False)
    dispatcher = UserFactory(tenant=tenant, username="dispatcher-zhao", roles=[Role.DISPATCHER])
    base, page = live_server.url, desk.page

    page.goto(f"{base}/admin/")
    page.fill("#id_username", dispatcher.username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit], input[type=submit]")
    assert page.url == f"{base}{BOARD}"
    listed = page.locator("#waiting-orders [data-order]").evaluate_all(
        "rows => rows.map(r => r.dataset.order)"
    )
    blocked = page.locator("[data-rider='rider-new']").inner_text()
    board = _checked(desk, axe_source, "dispatch-01-board-1280")
    page.set_viewport_size({"width": 1024, "height": 900})
    board_narrow = _checked(desk, axe_source, "dispatch-02-board-1024")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.select_option(f"#rider-{first.pk}", str(chosen.pk))
    with page.expect_navigation():
        page.locator(f"[data-order='{first.code}'] button:not([name=auto])").click()
    success = page.get_by_text(f"Order {first.code} assigned to rider-wang.").count()
    after_one = _checked(desk, axe_source, "dispatch-03-assigned-1280")

    with page.expect_navigation():
        page.locator(f"[data-order='{second.code}'] button[name=auto]").click()
    least_loaded = page.get_by_text(f"Order {second.code} assigned to rider-chen.").count()
    page.reload()
    after_reload = (
        page.locator("#waiting-orders").count(),
        page.locator("#no-waiting-orders").count(),
        page.get_by_text("assigned to").count(),
    )
    page.set_viewport_size({"width": 1024, "height": 900})
    narrow = _checked(desk, axe_source, "dispatch-04-all-assigned-1024")

    assert (
        listed,
        "No signature of confidentiality agreement v1" in blocked,
        board,
        board_narrow,
        success,
        after_one,
        least_loaded,
        after_reload,
        narrow,
        [_rider_of(first), _rider_of(second)],
    ) == (
        [first.code, second.code],
        True,
        _clean("dispatch-01-board-1280"),
        _clean("dispatch-02-board-1024"),
        1,
        _clean("dispatch-03-assigned-1280"),
        1,
        (0, 1, 0),
        _clean("dispatch-04-all-assigned-1024"),
        [(Status.ASSIGNED, chosen.pk), (Status.ASSIGNED, idle.pk)],
    )


def test_the_board_refreshes_itself_unless_a_rider_is_being_chosen(
    desk: Any, live_server: Any
) -> None:
    tenant = TenantFactory()
    order = packed_order(tenant)
    make_rider(tenant, username="rider-wang")
    dispatcher = UserFactory(tenant=tenant, roles=[Role.DISPATCHER])
    base, page = live_server.url, desk.page
    page.clock.install()
    page.goto(f"{base}/admin/login/?next={BOARD}")
    page.fill("#id_username", dispatcher.username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    late = packed_order(tenant)  # packed after the board was drawn
    with page.expect_navigation():
        page.clock.run_for(31_000)
    refreshed = page.locator(f"[data-order='{late.code}']").count()
    page.select_option(f"#rider-{order.pk}", label="rider-wang · 0 active")
    page.evaluate("window.__sameDocument = true")  # a reload would forget it
    page.clock.run_for(61_000)
    kept = page.evaluate("window.__sameDocument === true")
    assert (refreshed, kept, desk.refused, desk.foreign) == (1, True, [], [])
