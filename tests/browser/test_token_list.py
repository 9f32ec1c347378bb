"""The integration tokens' list and page in real Chromium at 1280 px, in English and
Chinese: a tenant admin creates a token in the back office, sees it once, and the list and
the token's page name its creator by username (never the stored ``user:<id>`` label).
axe-clean; screenshots in artifacts/browser/tokens-*.png."""

from __future__ import annotations

from typing import Any

import pytest

from tenants.models import IntegrationToken, Role
from tenants.scoping import tenant_scope
from tests.browser.conftest import desk_page
from tests.browser.roles import clean, step, with_session
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

CREATED_BY = {"en": "CREATED BY", "zh-hans": "创建者"}


@pytest.mark.parametrize(("language", "locale"), [("en", "en-US"), ("zh-hans", "zh-CN")])
def test_an_admin_creates_a_token_and_the_list_names_its_creator(
    browser: Any, live_server: Any, axe_source: str, language: str, locale: str
) -> None:
    admin = UserFactory(roles=[Role.TENANT_ADMIN], username=f"li-admin-{language}")
    page = desk_page(browser, locale)
    try:
        base = live_server.url
        with_session(page, base, admin, language=language)
        page.goto(f"{base}/admin/tenants/integrationtoken/add/")
        page.fill("input[name=name]", "pos 收银")
        page.click("button[name=_save]")
        token = page.locator("#api-token").inner_text()
        assert token and token not in page.url
        assert step(page, axe_source, f"tokens-{language}-created") == clean(
            f"tokens-{language}-created"
        )
        page.reload()  # after the POST: a GET of the created page, no second token
        assert page.locator("#api-token").count() == 0
        assert page.locator("#api-token-shown").count() == 1
        with tenant_scope(admin.tenant):
            assert IntegrationToken.objects.count() == 1
        assert step(page, axe_source, f"tokens-{language}-created-reloaded") == clean(
            f"tokens-{language}-created-reloaded"
        )
        page.goto(f"{base}/admin/tenants/integrationtoken/")
        listing = page.locator("#result_list").inner_text()
        assert (admin.username in listing, f"user:{admin.pk}" in listing) == (True, False)
        header = page.locator("#result_list thead").inner_text()
        assert CREATED_BY[language] in header.upper(), header
        assert token not in page.content()
        assert step(page, axe_source, f"tokens-{language}-list") == clean(f"tokens-{language}-list")
        page.locator("#result_list tbody tr a").first.click()
        page.wait_for_load_state()
        text = page.locator("#content").inner_text()
        assert (admin.username in text, f"user:{admin.pk}" in text, token in text) == (
            True,
            False,
            False,
        )
        # The header names the token as typed (unfold capitalised it: "Pos 收银").
        assert "pos 收银 (" in page.locator("h1").first.inner_text()
        assert step(page, axe_source, f"tokens-{language}-page") == clean(f"tokens-{language}-page")
    finally:
        page.context.close()
