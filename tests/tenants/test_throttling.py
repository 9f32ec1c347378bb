"""Fair API throttles: per token and per tenant, per user, per address; atomic counts."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client, RequestFactory
from rest_framework.request import Request

from tenants.counters import hit
from tenants.models import IntegrationToken, Role
from tenants.throttling import AnonymousThrottle, IntegrationTokenThrottle
from tests.factories import IntegrationTokenFactory, TenantFactory, UserFactory
from tests.redis_server import own_redis  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["in-process", "redis"])
def counter_store(request: pytest.FixtureRequest, settings: Any) -> str:
    """The counters in this process's cache (no REDIS_URL), or in a redis-server of the test."""
    if request.param == "in-process":
        settings.REDIS_URL = None
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    else:
        server = request.getfixturevalue("own_redis")
        settings.REDIS_URL = server.url
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": server.url,
            }
        }
    return str(request.param)


def _rates(settings: Any, **rates: str) -> None:
    api = settings.REST_FRAMEWORK
    merged = {**api["DEFAULT_THROTTLE_RATES"], **rates}
    settings.REST_FRAMEWORK = {**api, "DEFAULT_THROTTLE_RATES": merged}


def _me(client: Client, token: Any, forwarded_for: str = "198.51.100.1") -> Any:
    return client.get(
        "/api/v1/me/",
        HTTP_AUTHORIZATION=f"Bearer {token.raw}",
        HTTP_X_FORWARDED_FOR=forwarded_for,
        HTTP_ACCEPT_LANGUAGE="en",
    )


def test_a_tenant_at_its_limit_does_not_slow_another_tenant(
    client: Client, counter_store: str, settings: Any
) -> None:
    _rates(settings, token="100/hour", tenant="5/hour")
    tenant_a = TenantFactory()
    tokens_a = [IntegrationTokenFactory(tenant=tenant_a) for _ in range(10)]
    codes_a = [_me(client, tokens_a[n]).status_code for n in range(8)]
    fresh_b = IntegrationTokenFactory()
    assert (codes_a, _me(client, fresh_b).status_code) == ([200] * 5 + [429] * 3, 200)


def test_a_token_refused_by_its_own_limit_leaves_its_tenant_room(
    client: Client, counter_store: str, settings: Any
) -> None:
    _rates(settings, token="3/hour", tenant="4/hour")
    first = IntegrationTokenFactory()
    second = IntegrationTokenFactory(tenant=first.tenant)
    codes = [_me(client, first).status_code for _ in range(4)]
    codes += [_me(client, second).status_code for _ in range(2)]
    assert codes == [200, 200, 200, 429, 200, 429]


def test_a_throttled_token_gets_json_429_with_retry_after(client: Client, settings: Any) -> None:
    _rates(settings, token="1/hour")
    token = IntegrationTokenFactory()
    _me(client, token)
    response = _me(client, token)
    assert (
        response.status_code,
        response["Content-Type"],
        response.json()["detail"].startswith("Request was throttled."),
        1 <= int(response["Retry-After"]) <= 3600,
    ) == (429, "application/json", True, True)


def test_a_forged_x_forwarded_for_does_not_choose_a_tokens_bucket(
    client: Client, settings: Any
) -> None:
    _rates(settings, token="2/hour")
    token = IntegrationTokenFactory()
    codes = [_me(client, token, forwarded_for=f"192.0.2.{n}").status_code for n in range(3)]
    assert codes == [200, 200, 429]


def test_sessions_are_throttled_per_user(client: Client, settings: Any) -> None:
    _rates(settings, user="2/hour")
    first = UserFactory(roles=[Role.DISPATCHER])
    second = UserFactory(tenant=first.tenant, roles=[Role.DISPATCHER])
    client.force_login(first)
    codes = [client.get("/api/v1/me/").status_code for _ in range(3)]
    client.force_login(second)
    codes.append(client.get("/api/v1/me/").status_code)
    assert codes == [200, 200, 429, 200]


def _anonymous(remote: str, forwarded_for: str) -> Request:
    return Request(
        RequestFactory().get("/api/v1/me/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded_for)
    )


def _allowed(request: Request) -> bool:
    return AnonymousThrottle().allow_request(request, None)


def test_without_a_proxy_a_forged_x_forwarded_for_does_not_change_the_address(
    settings: Any,
) -> None:
    _rates(settings, anon="2/hour")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 0}
    forged = [_allowed(_anonymous("203.0.113.5", f"198.51.100.{n}")) for n in range(3)]
    assert (forged, _allowed(_anonymous("203.0.113.6", "198.51.100.1"))) == (
        [True, True, False],
        True,
    )


def test_behind_one_proxy_only_the_address_it_saw_counts(settings: Any) -> None:
    _rates(settings, anon="2/hour")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    forged = [_allowed(_anonymous("127.0.0.1", f"198.51.100.{n}, 203.0.113.9")) for n in range(3)]
    assert (forged, _allowed(_anonymous("127.0.0.1", "198.51.100.1, 203.0.113.10"))) == (
        [True, True, False],
        True,
    )


def test_concurrent_hits_are_counted_exactly(counter_store: str) -> None:
    with ThreadPoolExecutor(max_workers=16) as pool:
        counts = list(pool.map(lambda _: hit("concurrency", window=3600).count, range(400)))
    assert sorted(counts) == list(range(1, 401))


def test_concurrent_requests_let_exactly_the_rate_through(
    counter_store: str, settings: Any
) -> None:
    _rates(settings, token="50/hour", tenant="10000/hour")
    tenant = TenantFactory()
    request: Any = SimpleNamespace(auth=IntegrationToken(pk=987654, tenant=tenant))

    def allowed(_: int) -> bool:
        return IntegrationTokenThrottle().allow_request(request, None)

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(allowed, range(200)))
    assert results.count(True) == 50


def test_behind_one_proxy_the_throttle_and_the_audit_log_see_the_same_address(
    settings: Any,
) -> None:
    from audits.context import _client_ip
    from tenants.throttling import client_address

    settings.BEHIND_TLS_PROXY = True
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    # The TLS proxy appends the peer it saw to X-Forwarded-For and sets X-Real-IP to it.
    request = RequestFactory().get(
        "/api/v1/me/",
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="198.51.100.7, 203.0.113.9",
        HTTP_X_REAL_IP="203.0.113.9",
    )
    assert (client_address(request), _client_ip(request)) == ("203.0.113.9", "203.0.113.9")
