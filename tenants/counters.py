"""Atomic rate counters in fixed windows: the API's throttles and the public pages' limits.

With ``REDIS_URL`` set, counters live in Redis: one ``MULTI`` with ``INCR`` and ``EXPIRE`` per
hit, on one connection pool per process (shared by every thread), so every web worker counts
against the same number and concurrent hits are never lost. Without Redis (the demo, tests on
SQLite) they live in Django's in-process cache (LocMemCache: ``add`` + ``incr`` under its lock,
bounded by its ``MAX_ENTRIES``).

When Redis is configured but cannot be reached, ``hit`` raises ``CountersUnavailable``: the
callers answer 503 with ``Retry-After`` rather than guessing (docs/architecture.md, "When a
store is down"). A per-process fallback would multiply every limit by the number of workers
and hide the outage.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core.cache import cache
from redis.backoff import NoBackoff
from redis.retry import Retry

# How long a caller is asked to wait when the counters' store is down.
RETRY_AFTER_SECONDS = 10
# Connecting to, or waiting on, Redis never holds a request longer than this.
_REDIS_TIMEOUT_SECONDS = 0.5
_KEY_PREFIX = "baomi:rate"


class CountersUnavailable(Exception):
    """The counters' store (Redis) cannot be reached; try again after ``retry_after``."""

    retry_after = RETRY_AFTER_SECONDS


@dataclass(frozen=True)
class Hit:
    count: int  # hits in this window, this one included
    resets_in: int  # seconds until the window ends


_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def _redis_client(url: str) -> redis.Redis:
    """This process's one client for ``url``: one connection pool, shared by every thread."""
    client = _clients.get(url)
    if client is None:
        with _clients_lock:
            client = _clients.get(url)
            if client is None:
                pool = redis.ConnectionPool.from_url(
                    url,
                    socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
                    socket_timeout=_REDIS_TIMEOUT_SECONDS,
                    health_check_interval=30,
                    max_connections=64,
                    # One immediate retry: a pooled socket closed by a Redis restart is
                    # replaced at once instead of failing a request; a Redis that is down
                    # still fails within the timeouts above.
                    retry=Retry(NoBackoff(), 1),
                    retry_on_error=[redis.ConnectionError, redis.TimeoutError],
                )
                client = _clients[url] = redis.Redis(connection_pool=pool)
    return client


def hit(name: str, *, window: int) -> Hit:
    """Count one use of ``name`` in the current ``window``-second window (aligned to the
    clock) and return the count so far. Raises CountersUnavailable when Redis is down."""
    now = time.time()
    index = int(now // window)
    resets_in = max(1, int((index + 1) * window - now + 0.999))
    key = f"{_KEY_PREFIX}:{name}:{window}:{index}"
    url = settings.REDIS_URL
    if url:
        try:
            with _redis_client(url).pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, window + 1)
                count, _ = pipe.execute()
        except redis.RedisError as error:
            raise CountersUnavailable(type(error).__name__) from None
        return Hit(count=int(count), resets_in=resets_in)
    cache.add(key, 0, timeout=window + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # culled or expired between add and incr: this hit starts anew
        cache.add(key, 0, timeout=window + 1)
        count = cache.incr(key)
    return Hit(count=int(count), resets_in=resets_in)


def within_limit(name: str, *, limit: int, window: int) -> bool:
    """Count one use; False once ``name`` has been used more than ``limit`` times."""
    return hit(name, window=window).count <= limit
