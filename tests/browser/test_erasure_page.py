"""The public erasure page in real Chromium at a phone viewport: the form submits (CSRF and
Origin checks pass), the answer reads the same for unknown details, and axe finds no
serious or critical violations."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.test_rider_flow import _check_page
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def test_a_customer_reaches_the_code_page_in_chromium(
    phone: Any, live_server: Any, axe_source: str
) -> None:
    order = OrderFactory()
    phone.goto(f"{live_server.url}/privacy/erasure/")
    _check_page(phone, axe_source, "10-erasure-start")
    phone.fill("#order_code", order.code)
    phone.fill("#phone", "13912345678")
    phone.click("button[type=submit]")
    _check_page(phone, axe_source, "11-erasure-verify")
    assert (phone.url, phone.locator("#code").count()) == (
        f"{live_server.url}/privacy/erasure/verify/",
        1,
    )
