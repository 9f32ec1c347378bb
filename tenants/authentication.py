from __future__ import annotations

import threading
import time
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from core.hashing import keyed_hash
from tenants import token_cache
from tenants.counters import CountersUnavailable
from tenants.models import IntegrationToken
from tenants.services import TOKEN_PURPOSE, authenticate_api_token, token_tenant_id
from tenants.signals import integration_token_used
from tenants.throttling import count_token_request, stash_token_hits

# A revalidated token whose tenant's generation changed again before it could be counted
# is checked again; this many times at most (a generation renewed on every request), then
# the request is refused as an outage (503), never let through unchecked.
_ATTEMPTS = 3


class IntegrationTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <token>`` for partner systems. The request then acts for the
    token's tenant (tenants.permissions.IsTenantMember enters its scope); there is no user.

    With Redis, a token the process checked within ``BAOMI_TOKEN_CACHE_SECONDS`` costs no
    query: its tenant's credentials generation is compared in the same Redis round trip that
    counts the request against the token's and the tenant's throttles (the counts wait on
    the request for ``IntegrationTokenThrottle``). A revocation renews the generation, so
    the next request everywhere asks the database (tenants/token_cache.py)."""

    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[Any, IntegrationToken] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword:
            return None
        if len(header) != 2:
            raise AuthenticationFailed(_("Send the header as 'Authorization: Bearer <token>'."))
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed(_("Invalid token.")) from None
        token = authenticate_request_token(raw, request._request)
        if token is None:
            raise AuthenticationFailed(_("Invalid or revoked token."))
        # The alerts note the token's network (audits.alert_signals: one cache read).
        if not _client_seen_recently(token, request._request):
            integration_token_used.send(sender=IntegrationToken, token=token, request=request)
        return AnonymousUser(), token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


def authenticate_request_token(raw: str, request: HttpRequest | None) -> IntegrationToken | None:
    """The live token ``raw`` for one API request, or None; see the class."""
    tenant_id = token_tenant_id(raw)
    if tenant_id is None:
        return None
    digest = keyed_hash(TOKEN_PURPOSE, raw)
    if not token_cache.enabled():
        return authenticate_api_token(raw, digest=digest)
    generation: str | None = None
    entry = token_cache.remembered(digest)
    if entry is not None:
        counted = count_token_request(entry.token, expected=entry.generation)
        if not counted.stale:
            stash_token_hits(request, entry.token, counted)
            return token_cache.fresh_copy(entry.token)
        token_cache.forget(digest)
        generation = counted.generation  # read before the query below
    for _attempt in range(_ATTEMPTS):
        if generation is None:
            generation = token_cache.current_generation(tenant_id)
        token = authenticate_api_token(raw, digest=digest)
        if token is None:
            return None
        counted = count_token_request(token, expected=generation)
        if not counted.stale:
            token_cache.remember(digest, token, generation)
            stash_token_hits(request, token, counted)
            return token_cache.fresh_copy(token)
        generation = counted.generation
    raise CountersUnavailable("credentials generation unsettled")


# The alerts' token-network signal, sent once per token and client address per process
# within this many seconds: the receiver has then stored the network (or found it stored),
# so a repeat would only read the cache again. Keys are keyed hashes (no address is kept).
CLIENT_MEMO_SECONDS = 60.0
_CLIENT_MEMO_SIZE = 4096
_clients_seen: dict[str, float] = {}
_clients_lock = threading.Lock()


def _client_seen_recently(token: IntegrationToken, request: HttpRequest) -> bool:
    if not token_cache.enabled():
        return False
    meta = request.META
    key = keyed_hash(
        "token-client",
        token.token_hash,
        meta.get("REMOTE_ADDR", ""),
        meta.get("HTTP_X_REAL_IP", ""),
        meta.get("HTTP_X_FORWARDED_FOR", ""),
    )
    now = time.monotonic()
    with _clients_lock:
        seen = _clients_seen.get(key)
        if seen is not None and now - seen < CLIENT_MEMO_SECONDS:
            return True
        if len(_clients_seen) >= _CLIENT_MEMO_SIZE:
            _clients_seen.clear()
        _clients_seen[key] = now
    return False


def forget_clients_seen() -> None:
    """Tests: send the token-network signal again for every client."""
    with _clients_lock:
        _clients_seen.clear()
