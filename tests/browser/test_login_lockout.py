"""The rider's lockout page in real Chromium at a phone's width: after five wrong passwords
the right one is refused with a page that says how long to wait and whom to ask; no
horizontal scrolling, 44 px touch targets, no serious axe-core finding, no CSP violation."""

from __future__ import annotations

from typing import Any

import pytest

from tenants.models import Role
from tests.browser.test_csp import RECORD_VIOLATIONS
from tests.browser.test_rider_flow import _check_page
from tests.factories import PASSWORD, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def _log_in(page: Any, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/rider/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


def test_a_locked_out_rider_is_told_what_to_do_in_chromium(
    phone: Any, live_server: Any, axe_source: str
) -> None:
    rider = UserFactory(tenant=TenantFactory(), roles=[Role.RIDER])
    phone.add_init_script(RECORD_VIOLATIONS)
    for _ in range(5):
        _log_in(phone, live_server.url, rider.username, "wrong-password-42")
    _log_in(phone, live_server.url, rider.username, PASSWORD)
    _check_page(phone, axe_source, "lockout-01-rider-360")
    text = phone.locator("main").inner_text()
    assert ("Wait 15 minutes" in text, "tenant administrator" in text) == (True, True)
    assert phone.evaluate("window.__cspViolations || []") == []
