"""Django's PostgreSQL backend with a health check that costs no round trip.

Django checks a persistent connection once per request before its first use
(``CONN_HEALTH_CHECKS``) by running ``SELECT 1``: a round trip on every request, for each
database it touches (two for intake: the main database and the key store). PostgreSQL
sends nothing on an idle connection unless asked, so when it has ended one (a restart,
``pg_terminate_backend``, ``idle_session_timeout``) its goodbye or the closed socket is
already waiting to be read. That is checked with a non-blocking poll of the socket; only
when something is waiting, or after an error on the connection, does ``SELECT 1`` decide,
as before. A peer that vanished without a word goes unnoticed either way until a query
times out, so nothing is lost against ``SELECT 1``.

With a connection pool (``DATABASE_POOL``, Django's ``OPTIONS["pool"]``) the same check runs
when the pool hands a connection out (``check_pooled_connection``): psycopg's own check is an
empty query, a round trip per request.
"""

from __future__ import annotations

import select
from typing import Any

import psycopg
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.postgresql.base import DatabaseWrapper as PostgresWrapper
from psycopg.pq import TransactionStatus


def _something_waiting(connection: psycopg.Connection[Any]) -> bool:
    """Whether the server sent anything on this idle connection (a goodbye, an error)."""
    try:  # poll(), not select(): it has no limit on the descriptor's number
        poller = select.poll()
        poller.register(connection.fileno(), select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def check_pooled_connection(connection: psycopg.Connection[Any]) -> None:
    """The pool's check before it hands ``connection`` out: raises when the connection is
    unusable (the pool then opens another). No round trip unless something is waiting."""
    if connection.closed or connection.broken or _something_waiting(connection):
        from psycopg_pool import ConnectionPool

        ConnectionPool.check_connection(connection)


class DatabaseWrapper(PostgresWrapper):
    @property
    def pool(self) -> Any:
        """Django's pool (same options), checked by ``check_pooled_connection`` when
        ``CONN_HEALTH_CHECKS`` is on, instead of psycopg's round trip."""
        options = self.settings_dict["OPTIONS"].get("pool")
        if self.alias == NO_DB_ALIAS or not options:
            return None
        pools: dict[str, Any] = self._connection_pools  # type: ignore[attr-defined]
        if self.alias not in pools:
            if self.settings_dict.get("CONN_MAX_AGE", 0) != 0:
                raise ImproperlyConfigured("Pooling doesn't support persistent connections.")
            from psycopg_pool import ConnectionPool

            connect_kwargs = self.get_connection_params()
            connect_kwargs["autocommit"] = True  # Django sets its own mode later
            checks = self.settings_dict["CONN_HEALTH_CHECKS"]
            pool = ConnectionPool(
                kwargs=connect_kwargs,
                open=False,
                configure=self._configure_connection,  # type: ignore[attr-defined]
                check=check_pooled_connection if checks else None,
                **({} if options is True else options),
            )
            pools.setdefault(self.alias, pool)
        return pools[self.alias]

    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if self.errors_occurred or connection.info.transaction_status != TransactionStatus.IDLE:
            return super().is_usable()
        return not _something_waiting(connection) or super().is_usable()
