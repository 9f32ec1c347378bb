"""Two-factor login in real Chromium: a supervisor enrols at the back office's width (QR and
key on the page, the code computed from the key the page shows), logs out, logs in again
with a code from the app, then with a recovery code, which works once. A rider of a tenant
that asks for a second factor enrols at a phone's width. Screenshots in artifacts/browser/."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from django_otp.oath import totp

from tenants.models import Role
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_csp import RECORD_VIOLATIONS
from tests.browser.test_rider_flow import _check_page
from tests.factories import PASSWORD, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


@pytest.fixture
def desk(browser: Any, live_server: Any) -> Iterator[Any]:
    """A page at the back office's 1280×800 that records every request it makes."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    page = context.new_page()
    page.add_init_script(RECORD_VIOLATIONS)
    page.requests_made = []
    page.on("request", lambda request: page.requests_made.append(request.url))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield page
    context.close()


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _key_shown(page: Any) -> bytes:
    secret = page.locator("[data-testid=totp-secret]").inner_text().replace(" ", "")
    return base64.b32decode(secret + "=" * (-len(secret) % 8))


def _code(key: bytes, steps_ahead: int = 0) -> str:
    return f"{totp(key, drift=steps_ahead):06d}"


def _admin_login(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("#login-form [type=submit]")


def _log_out(page: Any) -> None:
    page.click("#user-menu")
    page.click("#logout-form button")


def _csp_violations(page: Any) -> list[str]:
    return list(page.evaluate("window.__cspViolations || []"))


def _enrol_at_desk(page: Any, base: str, username: str, shot: str = "") -> tuple[bytes, list[str]]:
    _admin_login(page, base, username)
    assert page.url.startswith(f"{base}/account/two-factor/setup/")
    if shot:
        _shot(page, shot)
    key = _key_shown(page)
    page.fill("#id_code", _code(key))
    page.click("form.card button[type=submit]")
    return key, page.locator("[data-testid=recovery-codes] li").all_inner_texts()


def test_supervisor_enrols_and_logs_in_with_a_code_in_chromium(
    desk: Any, live_server: Any, axe_source: str
) -> None:
    supervisor = UserFactory(tenant=TenantFactory(), roles=[Role.SUPERVISOR])
    base = live_server.url

    _admin_login(desk, base, supervisor.username)
    assert desk.url.startswith(f"{base}/account/two-factor/setup/")
    desk.locator("figure svg").wait_for()
    assert desk.locator("figure svg").count() == 1
    _shot(desk, "2fa-01-setup-1280")
    key = _key_shown(desk)
    desk.fill("#id_code", _code(key))
    with desk.expect_navigation():
        desk.click("form.card button[type=submit]")
    assert desk.url.startswith(f"{base}/account/two-factor/recovery-codes/")
    _shot(desk, "2fa-02-recovery-codes-1280")
    codes = desk.locator("[data-testid=recovery-codes] li").all_inner_texts()
    assert len(codes) == 10
    with desk.expect_navigation():
        desk.click("a.button")
    # /admin/ sends a supervisor on to the supervisor dashboard, their landing (issue 20).
    assert desk.url.startswith(f"{base}/supervisor/")

    _log_out(desk)
    _admin_login(desk, base, supervisor.username)
    assert desk.url.startswith(f"{base}/account/two-factor/verify/")
    _shot(desk, "2fa-03-verify-1280")
    desk.fill("#id_code", _code(key, steps_ahead=1))
    with desk.expect_navigation():
        desk.click("form.card button[type=submit]")
    # The dashboard renders every panel: on a loaded CI machine (four suites at once on two
    # cores) that has taken over 30 s on SQLite.
    desk.wait_for_url(f"{base}/supervisor/", timeout=90_000)

    _log_out(desk)
    _admin_login(desk, base, supervisor.username)
    desk.fill("#id_code", codes[0])
    with desk.expect_navigation():
        desk.click("form.card button[type=submit]")
    # The dashboard renders every panel: on a loaded CI machine (four suites at once on two
    # cores) that has taken over 30 s on SQLite.
    desk.wait_for_url(f"{base}/supervisor/", timeout=90_000)
    _shot(desk, "2fa-04-recovery-code-used-1280")

    _log_out(desk)
    _admin_login(desk, base, supervisor.username)
    desk.fill("#id_code", codes[0])
    desk.click("form.card button[type=submit]")
    _shot(desk, "2fa-05-recovery-code-refused-1280")
    assert "already used" in desk.content()
    assert desk.url.startswith(f"{base}/account/two-factor/verify/")
    assert [url for url in desk.requests_made if not url.startswith(base)] == []
    assert _csp_violations(desk) == []


def test_tenant_admin_resets_a_second_factor_and_unlocks_a_login_in_chromium(
    desk: Any, live_server: Any, axe_source: str
) -> None:
    tenant = TenantFactory()
    admin = UserFactory(tenant=tenant, roles=[Role.TENANT_ADMIN])
    colleague = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    base = live_server.url
    _enrol_at_desk(desk, base, admin.username)
    desk.click("a.button")

    desk.goto(f"{base}/admin/tenants/user/{colleague.pk}/change/")
    _shot(desk, "2fa-20-user-page-with-security-actions-1280")
    desk.click("text=Reset two-factor login")
    assert "enrol again at their next login" in desk.locator("ul.messagelist").inner_text()
    desk.click("text=Unlock login")
    assert "is unlocked" in desk.locator("ul.messagelist").inner_text()
    _shot(desk, "2fa-21-login-unlocked-1280")
    assert desk.url == f"{base}/admin/tenants/user/{colleague.pk}/change/"
    assert _csp_violations(desk) == []


def test_rider_enrols_on_a_phone_when_the_tenant_asks(
    phone: Any, live_server: Any, axe_source: str
) -> None:
    rider = UserFactory(tenant=TenantFactory(riders_need_two_factor=True), roles=[Role.RIDER])
    base = live_server.url

    phone.add_init_script(RECORD_VIOLATIONS)
    phone.goto(f"{base}/rider/login/")
    phone.fill("#id_username", rider.username)
    phone.fill("#id_password", PASSWORD)
    phone.click("button[type=submit]")
    assert phone.url.startswith(f"{base}/account/two-factor/setup/")
    _check_page(phone, axe_source, "2fa-10-rider-setup-360")
    phone.fill("#id_code", _code(_key_shown(phone)))
    phone.click("form.card button[type=submit]")
    assert phone.url.startswith(f"{base}/account/two-factor/recovery-codes/")
    _check_page(phone, axe_source, "2fa-11-rider-recovery-codes-360")
    phone.click("a.button")
    assert phone.url.startswith(f"{base}/rider/")
    assert phone.evaluate("window.__cspViolations || []") == []
    assert [url for url in phone.requests_made if not url.startswith(base)] == []
