"""The API's request stack (issue 21, docs/decisions/0020): a token checked in one query and
then remembered briefly, revoked on the very next request in every process, and counted
against its throttles in one Redis round trip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tenants import token_cache
from tenants.actors import SystemActor
from tenants.authentication import forget_clients_seen
from tenants.models import IntegrationToken, Role
from tenants.scoping import tenant_scope
from tenants.services import authenticate_api_token, revoke_api_token
from tests.factories import IntegrationTokenFactory, TenantFactory, UserFactory
from tests.redis_server import RedisServer, own_redis  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parents[2]
UNAVAILABLE = {"detail": "The service is briefly unavailable. Try again shortly."}


@pytest.fixture
def stores(own_redis: RedisServer, settings: Any) -> Iterator[RedisServer]:  # noqa: F811
    """The cache, the counters and the credentials generations on a redis-server of this
    test's own; no token remembered from another test."""
    settings.REDIS_URL = own_redis.url
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": own_redis.url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    settings.BAOMI_TOKEN_CACHE_SECONDS = 30
    token_cache.clear()
    forget_clients_seen()
    yield own_redis
    token_cache.clear()
    forget_clients_seen()


def _rates(settings: Any, **rates: str) -> None:
    api = settings.REST_FRAMEWORK
    merged = {**api["DEFAULT_THROTTLE_RATES"], **rates}
    settings.REST_FRAMEWORK = {**api, "DEFAULT_THROTTLE_RATES": merged}


def _me(client: Client, token: Any) -> Any:
    return client.get(
        "/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {token.raw}", HTTP_ACCEPT_LANGUAGE="en"
    )


class RoundTrips:
    """Counts what this process sends to Redis: one packed write is one round trip (a
    pipeline or a script call is one)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[bytes] = []
        original = redis.connection.AbstractConnection.send_packed_command

        def counting(conn: Any, command: Any, check_health: bool = True) -> None:
            packed = command if isinstance(command, bytes | str) else b"".join(command)
            self.sent.append(packed if isinstance(packed, bytes) else packed.encode())
            original(conn, command, check_health)

        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)


# --- one query, then none ---------------------------------------------------------------------


@pytest.mark.django_db
def test_token_authentication_is_one_query_joining_the_tenant() -> None:
    token = IntegrationTokenFactory()
    with tenant_scope(token.tenant):
        IntegrationToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    with CaptureQueriesContext(connection) as queries:
        found = authenticate_api_token(token.raw)
    assert found is not None
    with CaptureQueriesContext(connection) as more:
        assert (found.tenant.slug, found.tenant.is_active) == (token.tenant.slug, True)
    assert (len(queries), "tenants_tenant" in queries[0]["sql"], len(more)) == (1, True, 0)


@pytest.mark.django_db
def test_last_used_is_written_at_most_once_a_minute() -> None:
    token = IntegrationTokenFactory()
    with CaptureQueriesContext(connection) as first:
        authenticate_api_token(token.raw)
    with CaptureQueriesContext(connection) as second:
        authenticate_api_token(token.raw)
    with tenant_scope(token.tenant):
        IntegrationToken.objects.filter(pk=token.pk).update(
            last_used_at=timezone.now() - timedelta(minutes=2)
        )
    with CaptureQueriesContext(connection) as stale:
        authenticate_api_token(token.raw)
    assert (len(first), len(second), len(stale)) == (2, 1, 2)
    assert stale[1]["sql"].startswith('UPDATE "tenants_integrationtoken"')


@pytest.mark.django_db
def test_a_token_of_a_deactivated_tenant_is_refused_in_the_same_query() -> None:
    token = IntegrationTokenFactory()
    token.tenant.is_active = False
    token.tenant.save(update_fields=["is_active"])
    with CaptureQueriesContext(connection) as queries:
        assert authenticate_api_token(token.raw) is None
    assert len(queries) == 1


@pytest.mark.django_db
def test_a_remembered_token_costs_no_query_and_one_redis_round_trip(
    client: Client, stores: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = IntegrationTokenFactory()
    assert _me(client, token).status_code == 200  # checked in the database, remembered
    assert _me(client, token).status_code == 200  # the script loaded on this connection
    trips = RoundTrips(monkeypatch)
    with CaptureQueriesContext(connection) as queries:
        response = _me(client, token)
    assert (response.status_code, response.json()["tenant"]["slug"]) == (200, token.tenant.slug)
    assert (len(queries), len(trips.sent), b"EVALSHA" in trips.sent[0]) == (0, 1, True)


@pytest.mark.django_db
def test_without_redis_no_token_is_remembered(client: Client, settings: Any) -> None:
    settings.REDIS_URL = None
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    token = IntegrationTokenFactory()
    _me(client, token)
    with CaptureQueriesContext(connection) as queries:
        assert _me(client, token).status_code == 200
    assert any("tenants_integrationtoken" in q["sql"] for q in queries)


# --- revocation is immediate -------------------------------------------------------------------


@pytest.mark.django_db
def test_a_revoked_token_is_refused_on_the_next_request_with_the_cache_warm(
    client: Client, stores: RedisServer, django_capture_on_commit_callbacks: Any
) -> None:
    token = IntegrationTokenFactory()
    admin = UserFactory(tenant=token.tenant, roles=[Role.TENANT_ADMIN])
    warm = [_me(client, token).status_code for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        revoke_api_token(token=token, actor=admin)
    after = _me(client, token)
    assert (warm, after.status_code, after.json()) == (
        [200, 200, 200],
        401,
        {"detail": "Invalid or revoked token."},
    )


@pytest.mark.django_db
def test_a_renewed_generation_sends_the_next_request_to_the_database(
    client: Client, stores: RedisServer
) -> None:
    """What another process sees: its memory is not touched, only Redis changes."""
    token = IntegrationTokenFactory()
    _me(client, token)
    redis.Redis.from_url(stores.url).set(token_cache.generation_key(token.tenant_id), "other")
    with CaptureQueriesContext(connection) as queries:
        assert _me(client, token).status_code == 200
    assert sum("tenants_integrationtoken" in q["sql"] for q in queries) == 1


@pytest.mark.django_db
def test_a_flushed_redis_sends_the_next_request_to_the_database(
    client: Client, stores: RedisServer
) -> None:
    token = IntegrationTokenFactory()
    _me(client, token)
    redis.Redis.from_url(stores.url).flushdb()
    with CaptureQueriesContext(connection) as queries:
        assert _me(client, token).status_code == 200
    assert sum("tenants_integrationtoken" in q["sql"] for q in queries) == 1


@pytest.mark.django_db
def test_deactivating_the_tenant_refuses_its_remembered_tokens(
    client: Client, stores: RedisServer, django_capture_on_commit_callbacks: Any
) -> None:
    token = IntegrationTokenFactory()
    _me(client, token)
    with django_capture_on_commit_callbacks(execute=True):
        token.tenant.is_active = False
        token.tenant.save(update_fields=["is_active"])
    assert _me(client, token).status_code == 401


_OTHER_WORKER = """
import json, sys, django
django.setup()
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
client = Client(HTTP_ACCEPT_LANGUAGE="en")
token = sys.argv[1]
for line in sys.stdin:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/me/", HTTP_AUTHORIZATION="Bearer " + token)
    print(json.dumps([response.status_code, len(queries)]), flush=True)
"""


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="a second process shares the test databases only on PostgreSQL (SQLite's are in memory)",
)
@pytest.mark.django_db(transaction=True)
def test_a_token_revoked_in_one_process_is_refused_by_another_with_its_cache_warm(
    stores: RedisServer,
) -> None:
    token = IntegrationTokenFactory()
    admin = UserFactory(tenant=token.tenant, roles=[Role.TENANT_ADMIN])
    env = {
        **os.environ,
        "BAOMI_ENV": "test",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": _url("default"),
        "KEYSTORE_DATABASE_URL": _url("keystore"),
        "REDIS_URL": stores.url,
    }
    worker = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", _OTHER_WORKER, token.raw],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdin is not None and worker.stdout is not None

    def ask() -> list[int]:
        worker.stdin.write("go\n")  # type: ignore[union-attr]
        worker.stdin.flush()  # type: ignore[union-attr]
        return list(json.loads(worker.stdout.readline()))  # type: ignore[union-attr]

    try:
        warm = [ask(), ask(), ask()]
        revoke_api_token(token=token, actor=admin)  # committed: transaction=True
        after = ask()
    finally:
        worker.stdin.close()
        worker.wait(timeout=30)
    # The other process answered from memory (no query) until the revocation.
    assert (warm[1:], after[0]) == ([[200, 0], [200, 0]], 401)


def _url(alias: str) -> str:
    from django.db import connections

    config = connections[alias].settings_dict
    return f"postgres://{config['USER']}@{config['HOST']}:{config['PORT'] or 5432}/{config['NAME']}"


# --- throttles in one round trip -----------------------------------------------------------------


@pytest.mark.django_db
def test_throttles_still_count_a_remembered_token_and_its_tenant(
    client: Client, stores: RedisServer, settings: Any
) -> None:
    _rates(settings, token="3/hour", tenant="4/hour")
    first = IntegrationTokenFactory()
    second = IntegrationTokenFactory(tenant=first.tenant)
    other_tenant = IntegrationTokenFactory()
    codes = [_me(client, first).status_code for _ in range(4)]
    codes += [_me(client, second).status_code for _ in range(2)]
    refused = _me(client, second)
    assert (codes, _me(client, other_tenant).status_code) == (
        [200, 200, 200, 429, 200, 429],
        200,
    )
    assert 1 <= int(refused["Retry-After"]) <= 3600


@pytest.mark.django_db
def test_a_request_refused_by_its_token_limit_leaves_the_tenant_counter_alone(
    client: Client, stores: RedisServer, settings: Any
) -> None:
    _rates(settings, token="1/hour", tenant="100/hour")
    token = IntegrationTokenFactory()
    for _ in range(3):
        _me(client, token)
    keys = redis.Redis.from_url(stores.url).keys(f"baomi:rate:tenant:{token.tenant_id}:*")
    counts = [int(redis.Redis.from_url(stores.url).get(key) or 0) for key in keys]
    assert counts == [1]


@pytest.mark.django_db
def test_with_redis_stopped_a_remembered_token_gets_json_503_not_500(
    client: Client, stores: RedisServer
) -> None:
    token = IntegrationTokenFactory()
    before = [_me(client, token).status_code for _ in range(2)]
    stores.stop()
    down = _me(client, token)
    stores.start()
    after = _me(client, token).status_code
    assert (before, down.status_code, down.json(), down["Retry-After"], after) == (
        [200, 200],
        503,
        UNAVAILABLE,
        "10",
        200,
    )


@pytest.mark.django_db
def test_revoking_while_redis_is_down_still_revokes(
    client: Client, stores: RedisServer, django_capture_on_commit_callbacks: Any
) -> None:
    token = IntegrationTokenFactory()
    admin = UserFactory(tenant=token.tenant, roles=[Role.TENANT_ADMIN])
    _me(client, token)
    stores.stop()
    with django_capture_on_commit_callbacks(execute=True):
        revoke_api_token(token=token, actor=admin)
    stores.start()
    assert _me(client, token).status_code == 401


@pytest.mark.django_db
def test_a_session_caller_costs_no_second_tenant_query(client: Client, stores: RedisServer) -> None:
    user = UserFactory(tenant=TenantFactory(), roles=[Role.DISPATCHER])
    client.force_login(user)
    client.get("/api/v1/me/")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/me/").status_code == 200
    assert sum('FROM "tenants_tenant"' in q["sql"] for q in queries) == 1


def test_issuing_a_token_needs_no_redis_to_be_up(settings: Any) -> None:
    """The generation is renewed after the commit; a failure there is logged, not raised."""
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    token_cache.new_generation(123456)


@pytest.mark.django_db
def test_system_actor_revocation_renews_the_generation_once_committed(
    stores: RedisServer, django_capture_on_commit_callbacks: Any
) -> None:
    from tenants.services import do_revoke_api_token

    token = IntegrationTokenFactory()
    key = token_cache.generation_key(token.tenant_id)
    store = redis.Redis.from_url(stores.url)
    store.set(key, "before")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        do_revoke_api_token(token=token, actor=SystemActor("tests"))
        unchanged = store.get(key)
    for callback in callbacks:
        callback()
    assert (unchanged, store.get(key) not in (None, b"before")) == (b"before", True)
