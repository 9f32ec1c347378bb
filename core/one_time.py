"""One-time values shown once after a redirect (post/redirect/get), never kept in clear on
the server.

A page that creates a secret for a person to read (a handover code, a delivery PIN after
intake) answers its POST with a redirect; the value rides to the next GET in a cookie:

- encrypted with AES-GCM under a key derived from ``settings.BAOMI_HMAC_KEY`` for this
  use only (HMAC-SHA256 of a fixed label), so the browser holds ciphertext only;
- bound to the user, the purpose and the object (the associated data): another user's
  session, another page or another object cannot open it;
- short-lived (``max_age`` seconds, also checked inside the sealed payload), HttpOnly,
  Secure where the session cookie is, SameSite=Strict, and limited to ``path``;
- deleted by ``take`` the first time it is read, so a reload shows nothing.

Nothing is stored in the database, the session or the URL; the server keeps no copy
(docs/decisions/0009). Used for the delivery PIN after intake, the handover code and a
new integration token.
"""

from __future__ import annotations

import base64
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
_KEY_LABEL = b"baomi one-time display v1"
_NONCE_BYTES = 12


def _key() -> bytes:
    return hmac.new(settings.BAOMI_HMAC_KEY, _KEY_LABEL, hashlib.sha256).digest()


def cookie_name(purpose: str) -> str:
    """The cookie that carries a value of ``purpose``."""
    return f"baomi_once_{purpose}"


def _associated(user: Any, purpose: str, object_id: object) -> bytes:
    return f"{purpose}|{getattr(user, 'pk', '')}|{object_id}".encode()


def stash(
    response: HttpResponse,
    *,
    user: Any,
    purpose: str,
    object_id: object,
    value: str,
    max_age: int = ONE_TIME_SECONDS,
    path: str = "/",
) -> None:
    """Put ``value`` on ``response`` (the redirect) for the next page ``user`` opens under
    ``path``; ``purpose`` names the kind of value (letters, digits, underscores)."""
    if not purpose.replace("_", "").isalnum():
        raise ValueError("purpose: letters, digits and underscores only")
    nonce = os.urandom(_NONCE_BYTES)
    payload = json.dumps({"v": value, "exp": int(time.time()) + max_age}).encode()
    sealed = AESGCM(_key()).encrypt(nonce, payload, _associated(user, purpose, object_id))
    response.set_cookie(
        cookie_name(purpose),
        base64.urlsafe_b64encode(nonce + sealed).decode("ascii"),
        max_age=max_age,
        path=path,
        secure=bool(settings.SESSION_COOKIE_SECURE),
        httponly=True,
        samesite="Strict",
    )


def take(
    request: HttpRequest,
    response: HttpResponse,
    *,
    user: Any,
    purpose: str,
    object_id: object,
    path: str = "/",
) -> str | None:
    """The value stashed for ``user``, ``purpose`` and ``object_id``, or None (none, expired,
    tampered, or someone else's). The cookie is deleted on ``response`` either way, so the
    value is shown once."""
    raw = request.COOKIES.get(cookie_name(purpose))
    if raw is None:
        return None
    response.delete_cookie(cookie_name(purpose), path=path, samesite="Strict")
    try:
        blob = base64.urlsafe_b64decode(raw.encode("ascii"))
        nonce, sealed = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:]
        payload = AESGCM(_key()).decrypt(nonce, sealed, _associated(user, purpose, object_id))
        data = json.loads(payload)
    except (InvalidTag, ValueError, UnicodeError):
        return None
    if not isinstance(data, dict) or int(data.get("exp", 0)) < time.time():
        return None
    value = data.get("v")
    return value if isinstance(value, str) else None
