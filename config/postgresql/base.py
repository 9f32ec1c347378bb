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
"""

from __future__ import annotations

import select

from django.db.backends.postgresql.base import DatabaseWrapper as PostgresWrapper
from psycopg.pq import TransactionStatus


class DatabaseWrapper(PostgresWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if self.errors_occurred or connection.info.transaction_status != TransactionStatus.IDLE:
            return super().is_usable()
        try:  # poll(), not select(): it has no limit on the descriptor's number
            poller = select.poll()
            poller.register(connection.fileno(), select.POLLIN)
            waiting = poller.poll(0)
        except (OSError, ValueError):
            return super().is_usable()
        return not waiting or super().is_usable()
