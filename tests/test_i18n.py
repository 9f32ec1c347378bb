from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_login_page_follows_a_chinese_browser(client: Client) -> None:
    response = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    assert "保密后台" in response.content.decode()


def test_login_page_follows_an_english_browser(client: Client) -> None:
    response = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert "Baomi back office" in response.content.decode()


def test_language_defaults_to_simplified_chinese(client: Client) -> None:
    response = client.get("/admin/login/")
    assert response.headers["Content-Language"] == "zh-hans"


def test_language_can_be_switched(client: Client) -> None:
    client.post(
        "/i18n/setlang/", {"language": "en", "next": "/admin/login/"}, HTTP_ACCEPT_LANGUAGE="zh-CN"
    )
    response = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert response.headers["Content-Language"] == "en"


def test_login_page_offers_the_language_switcher(client: Client) -> None:
    content = client.get("/admin/login/").content.decode()
    assert 'action="/i18n/setlang/"' in content
