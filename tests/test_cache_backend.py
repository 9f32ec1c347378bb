"""core.cache.RedisCache (decision 0022): Django's Redis cache with one Redis client per
connection pool, kept — it behaves as Django's, against a real Redis, and a Redis that
cannot be reached still fails fast."""

from __future__ import annotations

import time

import pytest
import redis

from core.cache import RedisCache


def _cache(url: str, **options: object) -> RedisCache:
    return RedisCache(url, {"KEY_PREFIX": "test-core-cache", "OPTIONS": options})


def test_it_keeps_one_client_and_behaves_as_djangos(redis_service: str) -> None:
    cache = _cache(redis_service)
    cache.set("a", {"x": 1}, 30)
    cache.set("n", 5, 30)
    assert cache.get("a") == {"x": 1}
    assert cache.get_many(["a", "n", "missing"]) == {"a": {"x": 1}, "n": 5}
    assert cache.incr("n") == 6
    assert cache.add("a", "other", 30) is False
    client = cache._cache.get_client()
    assert cache._cache.get_client(write=True) is client  # one server: one pool, one client
    cache.delete_many(["a", "n"])
    assert cache.get("a") is None


def test_an_unreachable_redis_still_fails_within_its_timeout() -> None:
    cache = _cache("redis://127.0.0.1:1/0", socket_connect_timeout=0.5, socket_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        cache.get("a")
    with pytest.raises(redis.ConnectionError):  # the kept client does not hide it either
        cache.get("a")
    assert time.monotonic() - started < 5
