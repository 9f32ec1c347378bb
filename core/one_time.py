"""One-time values shown after a redirect without being stored (docs/decisions/0009).

A POST that creates a one-time value (the delivery PIN at intake) answers with a redirect
and a short-lived cookie holding the value encrypted with AES-GCM under a key derived for
this purpose from ``settings.BAOMI_HMAC_KEY`` (never ``SECRET_KEY``). The associated data
binds the token to its purpose and to the caller's ids (the user and the order), and the
sealed text carries its expiry, so a token copied to another user, another order or kept
past its minute opens to nothing. The GET page opens it once and deletes the cookie. The
server keeps nothing: no session entry, no row, no cache key, no URL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import time
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.http import HttpRequest, HttpResponse

ONE_TIME_SECONDS = 60
_NONCE = 12


def _key(purpose: str) -> bytes:
    label = f"baomi.one-time-value|{purpose}".encode()
    return hmac.new(settings.BAOMI_HMAC_KEY, label, hashlib.sha256).digest()


def _aad(purpose: str, binding: tuple[object, ...]) -> bytes:
    return "|".join([purpose, *(str(part) for part in binding)]).encode("utf-8")


def seal_value(purpose: str, value: str, *binding: object, now: float | None = None) -> str:
    """``value`` encrypted for ``purpose`` and ``binding``, valid ``ONE_TIME_SECONDS``."""
    expires = int(now if now is not None else time.time()) + ONE_TIME_SECONDS
    plain = json.dumps({"v": value, "exp": expires}, separators=(",", ":")).encode()
    nonce = os.urandom(_NONCE)
    sealed = AESGCM(_key(purpose)).encrypt(nonce, plain, _aad(purpose, binding))
    return base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")


def open_value(purpose: str, token: str, *binding: object, now: float | None = None) -> str | None:
    """The value sealed in ``token`` for this purpose and binding, or None: missing,
    malformed, forged, bound to something else, or expired."""
    if not token or len(token) > 512:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        plain = AESGCM(_key(purpose)).decrypt(raw[:_NONCE], raw[_NONCE:], _aad(purpose, binding))
        payload: Any = json.loads(plain)
    except (binascii.Error, ValueError, InvalidTag):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("v"), str):
        return None
    if int(payload.get("exp", 0)) < int(now if now is not None else time.time()):
        return None
    return payload["v"]


def set_value_cookie(response: HttpResponse, name: str, token: str, *, path: str) -> None:
    """The sealed token as a cookie for the one page at ``path``: HttpOnly, SameSite=Strict,
    Secure where the session cookie is, gone after ``ONE_TIME_SECONDS``."""
    response.set_cookie(
        name,
        token,
        max_age=ONE_TIME_SECONDS,
        path=path,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Strict",
    )


def take_value_cookie(
    request: HttpRequest,
    response: HttpResponse,
    name: str,
    purpose: str,
    *binding: object,
    path: str,
) -> str | None:
    """Open the cookie ``name`` once: the value (or None) and the cookie deleted."""
    token = request.COOKIES.get(name, "")
    if token:
        response.delete_cookie(name, path=path, samesite="Strict")
    return open_value(purpose, token, *binding)
