from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from django.http import HttpResponse
from django.test import RequestFactory

from core.one_time import stash, take

ALICE = SimpleNamespace(pk=1)
BOB = SimpleNamespace(pk=2)


def _stashed(value: str = "12345678", **kwargs: Any) -> HttpResponse:
    response = HttpResponse(status=302)
    stash(response, user=ALICE, purpose="handover_code", object_id="o1", value=value, **kwargs)
    return response


def _take(cookie: str, user: Any = ALICE, object_id: str = "o1", purpose: str = "handover_code"):
    request = RequestFactory().get("/", HTTP_COOKIE=f"baomi_once_{purpose}={cookie}")
    response = HttpResponse()
    value = take(request, response, user=user, purpose=purpose, object_id=object_id)
    return value, response


def test_the_stashed_value_is_read_once_and_the_cookie_deleted() -> None:
    cookie = _stashed().cookies["baomi_once_handover_code"]
    value, response = _take(cookie.value)
    assert (value, response.cookies["baomi_once_handover_code"]["max-age"]) == ("12345678", 0)


def test_the_cookie_holds_no_clear_value_and_is_strict() -> None:
    cookie = _stashed(path="/admin/").cookies["baomi_once_handover_code"]
    assert (
        "12345678" in cookie.value,
        cookie["httponly"],
        cookie["samesite"],
        cookie["path"],
        cookie["max-age"],
    ) == (False, True, "Strict", "/admin/", 60)


def test_another_user_or_another_object_cannot_open_it() -> None:
    cookie = _stashed().cookies["baomi_once_handover_code"].value
    assert (_take(cookie, user=BOB)[0], _take(cookie, object_id="o2")[0]) == (None, None)


def test_a_tampered_or_garbage_cookie_reads_as_nothing() -> None:
    cookie = _stashed().cookies["baomi_once_handover_code"].value
    flipped = cookie[:20] + ("A" if cookie[20] != "A" else "B") + cookie[21:]
    assert (_take(flipped)[0], _take("not base64 !!")[0], _take("")[0]) == (None, None, None)


def test_an_expired_value_reads_as_nothing(monkeypatch: Any) -> None:
    cookie = _stashed(max_age=1).cookies["baomi_once_handover_code"].value
    later = time.time() + 5
    monkeypatch.setattr(time, "time", lambda: later)
    assert _take(cookie)[0] is None


def test_no_cookie_means_no_value_and_nothing_deleted() -> None:
    request = RequestFactory().get("/")
    response = HttpResponse()
    assert (
        take(request, response, user=ALICE, purpose="handover_code", object_id="o1"),
        dict(response.cookies),
    ) == (None, {})


def test_a_value_under_another_key_cannot_be_opened(settings: Any) -> None:
    cookie = _stashed().cookies["baomi_once_handover_code"].value
    settings.BAOMI_HMAC_KEY = b"another key of thirty-two bytes!"
    assert _take(cookie)[0] is None
