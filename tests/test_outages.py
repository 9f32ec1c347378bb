"""Degrade, never crash: with Redis or the database unreachable the API answers JSON 503 with
Retry-After and the public pages a "try again shortly" page; both recover by themselves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tests.factories import IntegrationTokenFactory
from tests.redis_server import RedisServer, own_redis  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[1]
UNAVAILABLE = {"detail": "The service is briefly unavailable. Try again shortly."}
ERASURE_FORM = {"order_code": "7K3Q9-XD2M4", "phone": "13812345678"}


@pytest.fixture
def redis_stores(own_redis: RedisServer, settings: Any) -> RedisServer:  # noqa: F811
    """The cache and the throttles' counters on a redis-server this test may stop."""
    settings.REDIS_URL = own_redis.url
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": own_redis.url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    return own_redis


def _me(client: Client, token: Any) -> Any:
    return client.get(
        "/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {token.raw}", HTTP_ACCEPT_LANGUAGE="en"
    )


def test_with_redis_stopped_the_api_answers_json_503_and_recovers(
    client: Client, redis_stores: RedisServer
) -> None:
    token = IntegrationTokenFactory()
    before = _me(client, token).status_code
    redis_stores.stop()
    down = _me(client, token)
    redis_stores.start()
    after = _me(client, token).status_code
    assert (before, down.status_code, down["Content-Type"], down.json()) == (
        200,
        503,
        "application/json",
        UNAVAILABLE,
    )
    assert (down["Retry-After"], after) == ("10", 200)


def test_with_redis_stopped_the_erasure_page_asks_to_try_again_shortly(
    client: Client, redis_stores: RedisServer
) -> None:
    redis_stores.stop()
    down = client.post("/privacy/erasure/", ERASURE_FORM, HTTP_ACCEPT_LANGUAGE="en")
    redis_stores.start()
    after = client.post("/privacy/erasure/", ERASURE_FORM, HTTP_ACCEPT_LANGUAGE="en")
    assert (down.status_code, down["Retry-After"], after.status_code) == (503, "10", 302)
    assert "The service is briefly unavailable. Nothing was sent; please try again shortly." in (
        down.content.decode()
    )


def test_with_redis_stopped_the_erasure_page_stores_nothing(
    client: Client, redis_stores: RedisServer
) -> None:
    from privacy.models import ErasureChallenge

    redis_stores.stop()
    client.post("/privacy/erasure/", ERASURE_FORM, HTTP_ACCEPT_LANGUAGE="en")
    assert ErasureChallenge.objects.count() == 0


_UNREACHABLE_DATABASE = """
import json, django
django.setup()
from django.test import Client
client = Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE="en")
answers = {}
def record(name, response):
    answers[name] = [response.status_code, response["Content-Type"], response.content.decode(),
                     response.get("Retry-After")]
record("token", client.get("/api/v1/me/", HTTP_AUTHORIZATION="Bearer bmt_1_" + "x" * 43))
client.cookies["baomi_session"] = "s" * 32
record("session", client.get("/api/v1/me/"))
record("page", client.get("/privacy/erasure/"))
print(json.dumps(answers))
"""


@pytest.fixture(scope="module")
def unreachable_database_answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Requests in a fresh process whose database is a closed port (127.0.0.1:1)."""
    var = tmp_path_factory.mktemp("var")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "KEYSTORE_DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        BAOMI_ENV="test",
        BAOMI_VAR_DIR=str(var),
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL="postgres://postgres@127.0.0.1:1/baomi_unreachable",
    )
    done = subprocess.run(
        [sys.executable, "-c", _UNREACHABLE_DATABASE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("caller", ["token", "session"])
def test_with_the_database_unreachable_the_api_answers_json_503(
    unreachable_database_answers: dict[str, Any], caller: str
) -> None:
    status, content_type, body, retry_after = unreachable_database_answers[caller]
    assert (status, content_type, json.loads(body), retry_after) == (
        503,
        "application/json",
        UNAVAILABLE,
        "10",
    )


def test_with_the_database_unreachable_a_page_asks_to_try_again_shortly(
    unreachable_database_answers: dict[str, Any],
) -> None:
    status, content_type, body, retry_after = unreachable_database_answers["page"]
    assert (status, content_type, retry_after) == (503, "text/html; charset=utf-8", "10")
    assert "Nothing was changed; please try again in a few moments." in body
