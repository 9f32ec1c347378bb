"""The rider's whole delivery in real Chromium at a phone viewport: agreement → own orders
only → pickup (wrong then right seal, the seal never shown) → address and delivery note →
wrong PIN → right PIN → delivered page → today's finished deliveries → the old link says the
order is finished (in both languages). Screenshots of each step go to artifacts/browser/;
axe-core checks every rider page."""

from __future__ import annotations

from typing import Any

import pytest

from riders.dispatch import assign_rider
from tenants.models import Role
from tests.browser.conftest import ARTIFACTS
from tests.factories import PASSWORD, TenantFactory, UserFactory
from tests.riders.conftest import make_rider, packed_order

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _check_page(page: Any, axe_source: str, name: str) -> None:
    """Phone quality: no horizontal scrolling, touch targets of 44 px or more, and no
    serious or critical accessibility violations (axe-core)."""
    _shot(page, name)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    small = page.evaluate("""() => [...document.querySelectorAll('a, button, input, select, summary')]
        .filter(e => e.offsetParent !== null && e.type !== 'hidden')
        .map(e => [e.outerHTML.slice(0, 60), e.getBoundingClientRect()])
        .filter(([, r]) => r.height < 44 || r.width < 44)
        .filter(([html]) => !html.startsWith('<input type="checkbox"'))
        .map(([html]) => html)""")
    # Evaluated through the DevTools protocol: a <script> tag would be refused by the CSP.
    page.evaluate("() => {\n" + axe_source + "\n}")
    violations = page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']}))
        .violations.filter(v => ['serious', 'critical'].includes(v.impact)).map(v => v.id)""")
    assert (name, overflow, small, violations) == (name, 0, [], [])


def test_rider_delivers_an_order_in_chromium(phone: Any, live_server: Any, axe_source: str) -> None:
    tenant = TenantFactory()
    dispatcher = UserFactory(tenant=tenant, roles=[Role.DISPATCHER])
    rider = make_rider(tenant, signed=False, username="li-rider")
    ours = packed_order(tenant)
    theirs = packed_order(tenant)
    other = make_rider(tenant)
    rider_signed_later = rider  # assignment needs a signature: sign via the page first
    base = live_server.url

    phone.goto(f"{base}/rider/login/")
    _check_page(phone, axe_source, "01-login")
    phone.fill("#id_username", rider.user.username)
    phone.fill("#id_password", PASSWORD)
    phone.click("button[type=submit]")
    assert phone.url == f"{base}/rider/agreement/"
    _check_page(phone, axe_source, "02-agreement")
    phone.check("input[name=agree]")
    phone.click("text=Sign")

    assign_rider(order=ours, rider=rider_signed_later, actor=dispatcher)
    assign_rider(order=theirs, rider=other, actor=dispatcher)
    phone.goto(f"{base}/rider/")
    _check_page(phone, axe_source, "03-my-orders")
    listed = phone.locator("[data-order]").evaluate_all("els => els.map(e => e.dataset.order)")
    assert listed == [ours.code]

    phone.click(f"[data-order='{ours.code}'] a")
    _check_page(phone, axe_source, "04-order")
    assert ("SEAL-4242" in phone.content(), phone.locator("#delivery-note").count()) == (False, 0)
    phone.fill("#pickup-code", ours.code)
    phone.fill("#pickup-seal", "SEAL-0000")
    phone.click("#pickup-form button")
    _shot(phone, "05-wrong-seal")
    assert "seal number does not match" in phone.content()
    phone.fill("#pickup-code", ours.code)
    phone.fill("#pickup-seal", "SEAL-4242")
    phone.click("#pickup-form button")
    _check_page(phone, axe_source, "06-picked-up")
    assert (
        phone.locator("#address").inner_text(),
        phone.locator("#delivery-note").inner_text(),
    ) == (
        "上海市浦东新区张江路88号7栋1201室",
        "放门口",
    )

    wrong = "000000" if ours.delivery_pin != "000000" else "111111"
    phone.fill("#handover-pin", wrong)
    phone.click("#handover-form button[type=submit]")
    _shot(phone, "07-wrong-pin")
    assert "Wrong PIN. 4 attempts left." in phone.content()
    phone.fill("#handover-pin", ours.delivery_pin)
    phone.click("#handover-form button[type=submit]")
    _check_page(phone, axe_source, "08-delivered")
    assert (phone.url, phone.locator("h1").inner_text()) == (
        f"{base}/rider/orders/{ours.pk}/delivered/",
        "Delivered. Thank you!",
    )

    phone.click("#back-to-orders")
    _check_page(phone, axe_source, "09-finished-today")
    finished = phone.locator("[data-finished]").evaluate_all(
        "els => els.map(e => e.dataset.finished)"
    )
    assert (phone.url, phone.locator("[data-order]").count(), finished) == (
        f"{base}/rider/",
        0,
        [ours.code],
    )

    response = phone.goto(f"{base}/rider/orders/{ours.pk}/")
    _check_page(phone, axe_source, "10-order-finished")
    assert (response.status, phone.locator("h1").inner_text(), "放门口" in phone.content()) == (
        200,
        "This order is finished",
        False,
    )

    with phone.expect_navigation():
        phone.select_option("#language-select", "zh-hans")
    phone.goto(f"{base}/rider/orders/{ours.pk}/delivered/")
    _check_page(phone, axe_source, "11-delivered-zh")
    assert phone.locator("h1").inner_text() == "已送达，谢谢！"
    phone.goto(f"{base}/rider/")
    _check_page(phone, axe_source, "12-finished-today-zh")

    other_rider_page = phone.goto(f"{base}/rider/orders/{theirs.pk}/")
    assert other_rider_page.status == 404
    assert [url for url in phone.requests_made if not url.startswith((base, "data:"))] == []
