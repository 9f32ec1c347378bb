"""Database connection pooling (DATABASE_POOL, docs/decisions/0020): settings that fail
closed, and a pool that hands out only usable connections and keeps prepared statements."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connections

from config.postgresql.base import check_pooled_connection
from tests.test_settings import manage, production_env

ROOT = Path(__file__).resolve().parents[2]
POSTGRES = {
    "DATABASE_URL": "postgres://baomi@127.0.0.1:5432/baomi",
    "KEYSTORE_DATABASE_URL": "postgres://baomi@127.0.0.1:5432/baomi_keys",
}
_SHOW = (
    "from django.conf import settings as s; import json; "
    "print(json.dumps([[s.DATABASES[a]['CONN_MAX_AGE'], s.DATABASES[a]['OPTIONS'].get('pool'), "
    "s.DATABASES[a]['OPTIONS'].get('prepare_threshold')] for a in ('default', 'keystore')]))"
)


def test_production_with_a_pool_hands_connections_back_and_keeps_prepared_statements(
    tmp_path: Path,
) -> None:
    env = production_env(
        tmp_path,
        **POSTGRES,
        DATABASE_POOL="1",
        DATABASE_POOL_MAX_SIZE="8",
        DATABASE_POOL_MIN_SIZE="2",
    )
    result = manage(env, "shell", "-c", _SHOW)
    pool = {"min_size": 2, "max_size": 8, "timeout": 5}
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [[0, pool, 2], [0, pool, 2]], (
        result.stderr
    )


def test_without_a_pool_connections_persist_as_before(tmp_path: Path) -> None:
    result = manage(production_env(tmp_path, **POSTGRES), "shell", "-c", _SHOW)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [[60, None, 2], [60, None, 2]]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"DATABASE_POOL": "1", "DATABASE_CONN_MAX_AGE": "60"},
            "DATABASE_POOL=1 hands connections back to the pool after each request: unset "
            "DATABASE_CONN_MAX_AGE (or set it to 0).",
        ),
        (
            {"DATABASE_POOL": "1", "DATABASE_POOL_MIN_SIZE": "5", "DATABASE_POOL_MAX_SIZE": "2"},
            "DATABASE_POOL_MIN_SIZE must not be larger than DATABASE_POOL_MAX_SIZE.",
        ),
        ({"DATABASE_POOL": "sometimes"}, "DATABASE_POOL must be a boolean"),
        ({"DATABASE_POOL": "1", "DATABASE_POOL_MAX_SIZE": "0"}, "DATABASE_POOL_MAX_SIZE"),
    ],
    ids=["pool-and-persistent", "min-above-max", "not-a-boolean", "no-connections"],
)
def test_production_refuses_a_misconfigured_pool(
    tmp_path: Path, overrides: dict[str, str], message: str
) -> None:
    result = manage(production_env(tmp_path, **POSTGRES, **overrides), "check")
    assert (result.returncode != 0, message in result.stderr) == (True, True), result.stderr


def _conninfo() -> str:
    config = connections["default"].settings_dict
    return (
        f"host={config['HOST']} port={config['PORT'] or 5432} user={config['USER']} "
        f"dbname={config['NAME']}"
    )


@pytest.mark.django_db
def test_the_pool_replaces_a_connection_the_server_ended_before_handing_it_out() -> None:
    import psycopg
    from psycopg_pool import ConnectionPool

    if connections["default"].vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    with ConnectionPool(
        _conninfo(), min_size=1, max_size=1, check=check_pooled_connection, open=True
    ) as pool:
        with pool.connection() as first:
            before = first.info.backend_pid
        with psycopg.connect(_conninfo(), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [before])
            # Wait until the backend has gone (its goodbye then waits on the socket); what
            # a server has not sent yet, no check without a round trip can see.
            for _ in range(200):
                gone = admin.execute(
                    "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %s)",
                    [before],
                ).fetchone()
                if gone and gone[0]:
                    break
                time.sleep(0.05)
        with pool.connection() as second:
            after = second.info.backend_pid
            answer = second.execute("SELECT 1").fetchone()
    assert (after != before, answer) == (True, (1,))


_POOLED_PROCESS = """
import json, django
django.setup()
from django.db import connection
from tenants.bulk import hot_cursor
pids, prepared = [], []
for request in range(3):
    for n in range(3):
        with hot_cursor(connection) as cursor:
            cursor.execute("SELECT %s::int + 1", [n])
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid(), count(*) FROM pg_prepared_statements")
        pid, count = cursor.fetchone()
    pids.append(pid)
    prepared.append(count)
    connection.close()  # the end of a request: back to the pool
print(json.dumps([connection.pool is not None, len(set(pids)), prepared]))
"""


@pytest.mark.django_db(transaction=True)
def test_pooled_connections_keep_their_prepared_statements_across_requests() -> None:
    config = connections["default"].settings_dict
    if connections["default"].vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    url = f"postgres://{config['USER']}@{config['HOST']}:{config['PORT'] or 5432}/{config['NAME']}"
    keys = connections["keystore"].settings_dict
    env = {
        **os.environ,
        "BAOMI_ENV": "test",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": url,
        "KEYSTORE_DATABASE_URL": f"postgres://{keys['USER']}@{keys['HOST']}:"
        f"{keys['PORT'] or 5432}/{keys['NAME']}",
        "DATABASE_POOL": "1",
        "DATABASE_POOL_MAX_SIZE": "1",
    }
    env.pop("DATABASE_CONN_MAX_AGE", None)
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", _POOLED_PROCESS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    pooled, connections_used, prepared = json.loads(done.stdout.strip().splitlines()[-1])
    # One physical connection for the three requests; the statement prepared in the first
    # (after prepare_threshold runs) is still prepared in the next ones.
    assert (pooled, connections_used, prepared[1] >= 1, prepared[2] == prepared[1]) == (
        True,
        1,
        True,
        True,
    )
