"""Atomic rate counters in fixed windows: the API's throttles and the public pages' limits.

With ``REDIS_URL`` set, counters live in Redis: one ``MULTI`` with ``INCR`` and ``EXPIRE`` per
hit, on one connection pool per process (shared by every thread), so every web worker counts
against the same number and concurrent hits are never lost. ``hit_chain`` counts several
counters of one request (a token's and its tenant's) and reads one more key (the API
credentials' generation, tenants/token_cache.py) in **one** round trip: a Lua script, loaded
once per connection and called by its digest. Without Redis (the demo, tests on
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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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
    key, resets_in = _window_key(name, window, time.time())
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
    return Hit(count=_local_incr(key, window), resets_in=resets_in)


@dataclass(frozen=True)
class Counter:
    name: str
    window: int  # seconds
    limit: int  # the chain stops after the first counter that goes over its limit


@dataclass(frozen=True)
class ChainResult:
    generation: str | None  # the value of ``generation_key`` (None: not set, or not asked)
    stale: bool  # the generation was not ``expected``: nothing was counted
    hits: tuple[Hit, ...]  # one per counter counted, in order; stops after the first over


# KEYS: [generation key or "", counter keys...]; ARGV: [expected generation or "", then a
# (ttl, limit) pair per counter]. With an expected generation that differs from the stored
# one, nothing is counted. Counting stops after the first counter over its limit, so a
# request its token's limit refused is not counted against its tenant.
_CHAIN_SCRIPT = """
local generation = false
if KEYS[1] ~= '' then
  generation = redis.call('GET', KEYS[1])
  if ARGV[1] ~= '' and generation ~= ARGV[1] then
    return {generation or '', 1, {}}
  end
end
local counts = {}
for i = 2, #KEYS do
  local count = redis.call('INCR', KEYS[i])
  if count == 1 then
    redis.call('EXPIRE', KEYS[i], tonumber(ARGV[2 * i - 2]))
  end
  counts[#counts + 1] = count
  if count > tonumber(ARGV[2 * i - 1]) then
    break
  end
end
return {generation or '', 0, counts}
"""
_chain_scripts: dict[str, Any] = {}


def _window_key(name: str, window: int, now: float) -> tuple[str, int]:
    index = int(now // window)
    resets_in = max(1, int((index + 1) * window - now + 0.999))
    return f"{_KEY_PREFIX}:{name}:{window}:{index}", resets_in


def hit_chain(
    counters: Sequence[Counter], *, generation_key: str = "", expected: str = ""
) -> ChainResult:
    """Count one request against each of ``counters`` in turn, stopping after the first
    one over its limit, and read ``generation_key`` — all in one Redis round trip. With
    ``expected`` set and the stored generation different, nothing is counted (``stale``).
    Without Redis (the demo, SQLite tests): the in-process counters, no generation.
    Raises CountersUnavailable when Redis is down."""
    now = time.time()
    keyed = [(*_window_key(c.name, c.window, now), c) for c in counters]
    url = settings.REDIS_URL
    if not url:
        hits = []
        for key, resets_in, counter in keyed:
            hits.append(Hit(count=_local_incr(key, counter.window), resets_in=resets_in))
            if hits[-1].count > counter.limit:
                break
        return ChainResult(generation=None, stale=False, hits=tuple(hits))
    client = _redis_client(url)
    script = _chain_scripts.get(url)
    if script is None:
        script = _chain_scripts[url] = client.register_script(_CHAIN_SCRIPT)
    args: list[Any] = [expected]
    for _key, _resets, counter in keyed:
        args += [counter.window + 1, counter.limit]
    try:
        generation, stale, counts = script(
            keys=[generation_key, *(key for key, _r, _c in keyed)], args=args
        )
    except redis.RedisError as error:
        raise CountersUnavailable(type(error).__name__) from None
    return ChainResult(
        generation=(generation.decode() if isinstance(generation, bytes) else generation) or None,
        stale=bool(stale),
        hits=tuple(
            Hit(count=int(count), resets_in=resets_in)
            for count, (_key, resets_in, _c) in zip(counts, keyed, strict=False)
        ),
    )


def _local_incr(key: str, window: int) -> int:
    cache.add(key, 0, timeout=window + 1)
    try:
        return int(cache.incr(key))
    except ValueError:  # culled or expired between add and incr: this hit starts anew
        cache.add(key, 0, timeout=window + 1)
        return int(cache.incr(key))


def redis_client() -> redis.Redis | None:
    """This process's pooled client for ``settings.REDIS_URL`` (None without Redis)."""
    url = settings.REDIS_URL
    return _redis_client(url) if url else None


def within_limit(name: str, *, limit: int, window: int) -> bool:
    """Count one use; False once ``name`` has been used more than ``limit`` times."""
    return hit(name, window=window).count <= limit
