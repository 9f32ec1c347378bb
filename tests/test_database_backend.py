"""The PostgreSQL backend's health check (config/postgresql): no round trip for a live
connection, and a connection the server has ended is still found and replaced."""

from __future__ import annotations

import select
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.db.backends.postgresql.base import DatabaseWrapper as PostgresWrapper

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's backend"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def full_checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many times Django's own check (``SELECT 1``) ran."""
    ran: list[int] = []
    original = PostgresWrapper.is_usable

    def counted(self: Any) -> bool:
        ran.append(1)
        return original(self)

    monkeypatch.setattr(PostgresWrapper, "is_usable", counted)
    yield ran


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    return pid


def _ended_by_the_server() -> None:
    """Terminate our connection from another one, and wait for its goodbye to arrive."""
    pid = _backend_pid()
    params = connection.get_connection_params()
    with psycopg.connect(
        host=params.get("host"),
        port=params.get("port"),
        user=params.get("user"),
        password=params.get("password"),
        dbname=params["dbname"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    waiting, _, _ = select.select([connection.connection.fileno()], [], [], 5)
    assert waiting, "the server's goodbye never arrived"


def test_the_backend_is_ours() -> None:
    assert connection.settings_dict["ENGINE"] == "config.postgresql"


def test_a_live_idle_connection_is_usable_without_a_round_trip(full_checks: list[int]) -> None:
    _backend_pid()
    assert (connection.is_usable(), full_checks) == (True, [])


def test_a_connection_the_server_ended_is_replaced_at_the_next_request(
    full_checks: list[int],
) -> None:
    first = _backend_pid()
    _ended_by_the_server()
    assert connection.is_usable() is False
    assert full_checks == [1]  # the goodbye was waiting: SELECT 1 decided
    # What Django does at the start of a request, then the request's first query.
    connection.health_check_done = False
    connection.close_if_health_check_failed()
    assert connection.connection is None
    assert _backend_pid() != first


def test_after_an_error_the_full_check_decides(full_checks: list[int]) -> None:
    _backend_pid()
    connection.errors_occurred = True
    try:
        assert connection.is_usable() is True
    finally:
        connection.errors_occurred = False
    assert full_checks == [1]


def test_a_live_connection_on_a_high_descriptor_stays_usable(
    full_checks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """select() refuses descriptors from 1024 on; poll() does not. A busy process (many
    sockets open) must not drop its healthy connections."""
    import os

    _backend_pid()
    raw = connection.connection
    high = os.dup2(raw.fileno(), 1500)
    try:
        monkeypatch.setattr(type(raw), "fileno", lambda self: high)
        assert (connection.is_usable(), full_checks) == (True, [])
    finally:
        os.close(high)
