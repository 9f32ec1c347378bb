"""Fair API throttles: an integration token counts against itself and its tenant, a logged-in
user against themself, an anonymous caller against their address. A partner's tokens never
share a bucket with another tenant's, and no header a caller sends chooses its bucket.

Rates come from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (the environment's
BAOMI_API_TOKEN_RATE, BAOMI_API_TENANT_RATE, BAOMI_API_USER_RATE, BAOMI_API_ANON_RATE) and are
read at each request. Counts are atomic (``tenants.counters``): a fixed window per rate,
``Retry-After`` the rest of the window; with Redis down the request is refused with 503.

A token's request is counted against the token and its tenant in one Redis round trip
(``count_token_request``), which also checks the tenant's credentials generation for the
token cache: ``IntegrationTokenAuthentication`` makes it and leaves the counts on the
request (``stash_token_hits``), and ``IntegrationTokenThrottle`` decides from them.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from core.hashing import keyed_hash
from tenants.counters import ChainResult, Counter, CountersUnavailable, hit, hit_chain
from tenants.models import IntegrationToken
from tenants.token_cache import generation_key

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
UNAVAILABLE = _("The service is briefly unavailable. Try again shortly.")


class ThrottleUnavailable(APIException):
    """503 with Retry-After: the counters cannot be read, so the request is not let through."""

    status_code = 503
    default_code = "unavailable"

    def __init__(self, wait: int) -> None:
        super().__init__(UNAVAILABLE)
        self.wait = wait


def parse_rate(rate: str) -> tuple[int, int]:
    """``"600/min"`` → (600, 60): requests per window of seconds (DRF's notation)."""
    number, period = rate.split("/")
    return int(number), _PERIODS[period.strip()[0]]


def client_address(request: HttpRequest) -> str:
    """The caller's address for anonymous limits. ``NUM_PROXIES`` (REST_FRAMEWORK, from the
    environment) trusted proxies append to X-Forwarded-For; the address the outermost one saw
    is that many places from the right. With none, the peer's address: headers are ignored,
    so a forged X-Forwarded-For never picks a bucket."""
    remote = str(request.META.get("REMOTE_ADDR") or "-")
    proxies = int(api_settings.NUM_PROXIES or 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return remote
    addresses = [part.strip() for part in str(forwarded).split(",")]
    return addresses[-min(proxies, len(addresses))] or remote


class _CountingThrottle(BaseThrottle):
    def __init__(self) -> None:
        self._wait: int | None = None

    def _allow(self, scope: str, ident: object) -> bool:
        """Count one request in ``scope`` for ``ident``; False once over the scope's rate."""
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)
        if not rate:
            return True
        limit, window = parse_rate(rate)
        try:
            counted = hit(f"{scope}:{ident}", window=window)
        except CountersUnavailable as error:
            raise ThrottleUnavailable(error.retry_after) from None
        if counted.count > limit:
            self._wait = counted.resets_in
            return False
        return True

    def wait(self) -> float | None:
        return self._wait


_STASH = "_baomi_token_hits"


def _token_counters(token: IntegrationToken) -> list[Counter]:
    """The token's own counter, then its tenant's (the rates that are set)."""
    counters = []
    for scope, ident in (("token", token.pk), ("tenant", token.tenant_id)):
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)
        if rate:
            limit, window = parse_rate(rate)
            counters.append(Counter(f"{scope}:{ident}", window, limit))
    return counters


def count_token_request(token: IntegrationToken, *, expected: str = "") -> ChainResult:
    """Count one request of ``token`` against itself and, unless that refuses it, its
    tenant; with ``expected``, only if the tenant's credentials generation still is that
    (``stale`` otherwise, nothing counted). One Redis round trip."""
    return hit_chain(
        _token_counters(token),
        generation_key=generation_key(token.tenant_id) if expected else "",
        expected=expected,
    )


def stash_token_hits(
    request: HttpRequest | None, token: IntegrationToken, counted: ChainResult
) -> None:
    """Leave the counts of ``count_token_request`` on the request for the throttle."""
    if request is not None:
        setattr(request, _STASH, (token.pk, counted))


class IntegrationTokenThrottle(_CountingThrottle):
    """Per token ("token" rate) and per tenant over all its tokens ("tenant" rate). A request
    refused by its token's limit is not counted against the tenant's other tokens. Both
    counts are one round trip, made by the authentication when it checked the token
    (``stash_token_hits``), else here."""

    def allow_request(self, request: Request, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, IntegrationToken):
            return True
        stashed = getattr(getattr(request, "_request", None), _STASH, None)
        if stashed is not None and stashed[0] == token.pk:
            counted = stashed[1]
        else:
            try:
                counted = count_token_request(token)
            except CountersUnavailable as error:
                raise ThrottleUnavailable(error.retry_after) from None
        for counter, counted_hit in zip(_token_counters(token), counted.hits, strict=False):
            if counted_hit.count > counter.limit:
                self._wait = counted_hit.resets_in
                return False
        return True


class UserThrottle(_CountingThrottle):
    """Per logged-in user ("user" rate): session callers of the API."""

    def allow_request(self, request: Request, view: Any) -> bool:
        if isinstance(request.auth, IntegrationToken) or not request.user.is_authenticated:
            return True
        return self._allow("user", request.user.pk)


class AnonymousThrottle(_CountingThrottle):
    """Per client address ("anon" rate): callers with neither a token nor a session."""

    def allow_request(self, request: Request, view: Any) -> bool:
        if isinstance(request.auth, IntegrationToken) or request.user.is_authenticated:
            return True
        # Addresses are personal data: the counter's key holds their keyed hash.
        return self._allow("anon", keyed_hash("throttle-address", client_address(request)))
