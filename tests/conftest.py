from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def pytest_configure(config: pytest.Config) -> None:
    # Argon2 is deliberately slow; tests log in hundreds of factory users. The configured
    # hasher is asserted in tests/test_settings.py.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    if REQUIRE_SERVICES:
        engine = settings.DATABASES["default"]["ENGINE"]
        keystore_engine = settings.DATABASES["keystore"]["ENGINE"]
        if "postgresql" not in keystore_engine:
            raise pytest.UsageError(
                "REQUIRE_SERVICES=1 but KEYSTORE_DATABASE_URL does not point at PostgreSQL."
            )
        if "postgresql" not in engine:
            raise pytest.UsageError(
                "REQUIRE_SERVICES=1 but DATABASE_URL does not point at PostgreSQL "
                f"(engine {engine})."
            )
        if not settings.REDIS_URL:
            raise pytest.UsageError("REQUIRE_SERVICES=1 but REDIS_URL is not set.")


def _redis_problem() -> str | None:
    if not settings.REDIS_URL:
        return "REDIS_URL is not set"
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        return f"Redis at REDIS_URL is unreachable ({type(error).__name__})"
    return None


@pytest.fixture
def redis_service() -> Iterator[str]:
    """Redis for tests that need it: skipped without it, a failure under REQUIRE_SERVICES=1."""
    problem = _redis_problem()
    if problem is not None:
        if REQUIRE_SERVICES:
            pytest.fail(f"{problem}, and REQUIRE_SERVICES=1 forbids skipping.")
        pytest.skip(f"needs Redis: {problem}")
    yield settings.REDIS_URL


@pytest.fixture(autouse=True)
def english_messages() -> Iterator[None]:
    """Messages outside requests are asserted in English (the site defaults to zh-Hans;
    requests choose their own language through LocaleMiddleware)."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def fresh_key_caches() -> Iterator[None]:
    """Unwrapped keys and the reveal gate's open decisions are kept per process; each test
    starts without them (ids can repeat from one test to the next on SQLite)."""
    from privacy.keys import clear_key_caches
    from training.gates import clear_kept_decisions

    clear_key_caches()
    clear_kept_decisions()
    yield
    clear_key_caches()
    clear_kept_decisions()


@pytest.fixture
def worker(redis_service: str, transactional_db: None) -> Iterator[str]:
    """A real Celery worker (solo pool, in a thread) on Redis, consuming a private queue."""
    import uuid

    from celery.contrib.testing.worker import start_worker

    from config.celery import app as celery_app

    queue = f"test-{uuid.uuid4().hex}"
    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, queues=[queue], shutdown_timeout=10
    ):
        yield queue


@pytest.fixture(autouse=True)
def force_login_gives_second_factor(monkeypatch: pytest.MonkeyPatch) -> None:
    """``client.force_login(user)`` logs in as after the two-factor page too (a confirmed
    device, a verified session) for users whose role needs a second factor. Tests of the
    gate itself log in with ``client.login`` (password only)."""
    from django.test import Client

    from tenants.two_factor import needs_two_factor
    from tests.factories import verified_second_factor

    original = Client.force_login

    def force_login(self: Client, user: Any, backend: str | None = None) -> None:
        original(self, user, backend)
        if needs_two_factor(user):
            verified_second_factor(self, user)

    monkeypatch.setattr(Client, "force_login", force_login)


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    """Throttle counters and other cached state never leak from one test into another."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def backups_in_tmp(settings: Any, tmp_path: Any) -> None:
    """Backups and the erasure-ledger file go to a per-test folder, never the checkout's var/."""
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.EVIDENCE_DIR = tmp_path / "evidence"
    settings.LESSON_IMAGE_DIR = tmp_path / "lesson-images"
    settings.BAOMI_ANCHOR_DIR = tmp_path / "anchors"  # audits' local anchor sink (issue 20)


@pytest.fixture(scope="session", autouse=True)
def flush_may_truncate_append_only_tables() -> Iterator[None]:
    """On PostgreSQL the audit log, chain heads and erasure ledger refuse TRUNCATE unless
    the transaction-local setting ``baomi.allow_truncate`` is on (audits migration 0004).
    Transactional tests empty the database with Django's flush, one TRUNCATE: for the tests
    only, flush turns the setting on first, in the same transaction."""
    from collections.abc import Iterable

    from django.db.backends.base.operations import BaseDatabaseOperations
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self: BaseDatabaseOperations, sql_list: Iterable[str]) -> None:
        original(self, ["SET LOCAL baomi.allow_truncate = 'on'", *sql_list])

    DatabaseOperations.execute_sql_flush = execute_sql_flush  # type: ignore[method-assign]
    yield
    DatabaseOperations.execute_sql_flush = original  # type: ignore[method-assign]


# Actions the audit tests append (app label "tests", namespace "test"): registered like an
# app's, so the registry's checks run in every test that writes them.
TEST_AUDIT_ACTIONS = (
    "event",
    "batch",
    "one",
    "two",
    "elsewhere",
    "lost",
    "kept",
    "mixed",
    "other",
)


@pytest.fixture(scope="session", autouse=True)
def test_audit_actions() -> Iterator[None]:
    from core.audit_registry import AuditAction, AuditCategory, register_actions, unregister_app

    register_actions(
        "tests",
        namespaces=("test",),
        actions=[
            AuditAction(
                f"test.{verb}",
                f"Test {verb}",
                AuditCategory.OTHER,
                frozenset({"n", "label", "名", "x"}),
            )
            for verb in TEST_AUDIT_ACTIONS
        ],
    )
    yield
    unregister_app("tests")
