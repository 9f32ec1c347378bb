"""Integration tokens remembered briefly in process memory, revoked at once everywhere
(docs/decisions/0020-light-request-stack.md).

A token checked against the database (``tenants.services.authenticate_api_token``: one
indexed query joining its tenant) is kept in this process for at most
``BAOMI_TOKEN_CACHE_SECONDS``, under its keyed hash (never the token itself), together with
the **credentials generation** of its tenant read from Redis *before* that query. Each
request compares the stored generation with Redis's in the same round trip as the
throttle counters (``tenants.counters.hit_chain``); a mismatch means "check the database
again". Saving or deleting a tenant or one of its tokens (revocation, deactivation, a new
time zone) sets the tenant's generation to a new random value once the transaction has
committed, so the very next request in every process reads the database again.

A generation missing from Redis (flushed, evicted, a new Redis) never matches a stored one:
its absence invalidates every remembered token. Without Redis (the demo, SQLite tests)
nothing is remembered: every request asks the database.
"""

from __future__ import annotations

import copy
import logging
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from tenants.counters import CountersUnavailable, redis_client
from tenants.models import IntegrationToken, Tenant

logger = logging.getLogger(__name__)

GENERATION_PREFIX = "baomi:authgen"
# A generation outlives any cache entry by far; when it expires the next request sets a
# new one (and every remembered token of the tenant is checked again).
GENERATION_TTL_SECONDS = 7 * 24 * 3600
CACHE_SIZE = 2048


def generation_key(tenant_id: int) -> str:
    return f"{GENERATION_PREFIX}:{tenant_id}"


@dataclass(frozen=True)
class Remembered:
    token: IntegrationToken  # with its tenant loaded; handed out as copies
    generation: str  # the tenant's credentials generation read before the query
    stored_at: float


class _Memory:
    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[str, Remembered] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, digest: str, ttl: float) -> Remembered | None:
        with self.lock:
            entry = self.items.get(digest)
            if entry is None:
                return None
            if time.monotonic() - entry.stored_at > ttl:
                del self.items[digest]
                return None
            return entry

    def put(self, digest: str, entry: Remembered) -> None:
        with self.lock:
            self.items[digest] = entry
            self.items.move_to_end(digest)
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def forget_tenant(self, tenant_id: int) -> None:
        with self.lock:
            for digest in [d for d, e in self.items.items() if e.token.tenant_id == tenant_id]:
                del self.items[digest]

    def clear(self) -> None:
        with self.lock:
            self.items.clear()


_memory = _Memory(CACHE_SIZE)


def cache_seconds() -> float:
    return float(getattr(settings, "BAOMI_TOKEN_CACHE_SECONDS", 30))


def enabled() -> bool:
    """Tokens are remembered only with Redis (the shared generation) and a positive TTL."""
    return bool(settings.REDIS_URL) and cache_seconds() > 0


def remembered(digest: str) -> Remembered | None:
    return _memory.get(digest, cache_seconds()) if enabled() else None


def remember(digest: str, token: IntegrationToken, generation: str) -> None:
    _memory.put(digest, Remembered(token=token, generation=generation, stored_at=time.monotonic()))


def forget(digest: str) -> None:
    with _memory.lock:
        _memory.items.pop(digest, None)


def clear() -> None:
    """Forget every remembered token of this process (tests)."""
    _memory.clear()


def fresh_copy(token: IntegrationToken) -> IntegrationToken:
    """A copy of a remembered token (and its tenant) for one request: requests never share
    a model instance."""
    mine = copy.copy(token)
    mine.tenant = copy.copy(token.tenant)
    return mine


def current_generation(tenant_id: int) -> str:
    """The tenant's credentials generation, set to a new random value when missing; one
    round trip. Read *before* the database is asked, so that a revocation committed after
    the query shows as a new generation on the next request."""
    client = redis_client()
    if client is None:
        return ""
    key = generation_key(tenant_id)
    try:
        with client.pipeline(transaction=True) as pipe:
            pipe.set(key, secrets.token_hex(8), nx=True, ex=GENERATION_TTL_SECONDS)
            pipe.get(key)
            _created, value = pipe.execute()
    except redis.RedisError as error:
        raise CountersUnavailable(type(error).__name__) from None
    return value.decode() if isinstance(value, bytes) else str(value)


def new_generation(tenant_id: int) -> None:
    """Invalidate every process's remembered tokens of the tenant: a new random generation
    (and this process's own entries at once). A failing Redis is logged: the API answers
    503 while Redis is down, and remembered tokens expire within the TTL anyway."""
    _memory.forget_tenant(tenant_id)
    client = redis_client()
    if client is None:
        return
    try:
        client.set(generation_key(tenant_id), secrets.token_hex(8), ex=GENERATION_TTL_SECONDS)
    except redis.RedisError as error:
        logger.warning("token cache: could not renew a generation: %s", type(error).__name__)


def _after_commit(tenant_id: int | None) -> None:
    if tenant_id is None:
        return
    # In this process at once (even inside the transaction), everywhere once committed: a
    # request that re-reads the database before the commit would still see the old row.
    _memory.forget_tenant(tenant_id)
    transaction.on_commit(lambda: new_generation(tenant_id))


def _token_changed(sender: Any, instance: IntegrationToken, **_: Any) -> None:
    _after_commit(instance.tenant_id)


def _tenant_changed(sender: Any, instance: Tenant, **_: Any) -> None:
    _after_commit(instance.pk)


def connect() -> None:
    """Renew the generation on every save or delete of a token or a tenant (tenants.apps).
    Bulk ``update()`` calls send no signal: the token's own ``last_used_at`` is one, and
    nothing that revokes or deactivates uses them."""
    for signal in (post_save, post_delete):
        signal.connect(_token_changed, sender=IntegrationToken, dispatch_uid=f"token-gen-{signal}")
        signal.connect(_tenant_changed, sender=Tenant, dispatch_uid=f"tenant-gen-{signal}")
