"""Exactly one beat sends scheduled jobs: a leader lock, and each job's period.

``LeaderScheduler`` (``CELERY_BEAT_SCHEDULER``) sends only while it holds the leader lock:

- with Redis (``REDIS_URL``): the key ``baomi:beat:leader``, taken with ``SET NX PX`` and a
  token (host, pid, random), renewed on every tick by a compare-and-set script (only the
  token's owner extends it) and deleted on a clean stop. A beat that dies keeps nothing:
  the key expires after ``BAOMI_BEAT_LOCK_SECONDS`` (default 30) and a standby takes over.
  Ticks come at least every sixth of that (5 s), so the lock is renewed long before it ends.
- without Redis (the demo: SQLite and Kombu's filesystem broker): an exclusive ``flock`` on
  ``VAR_DIR/celerybeat-leader.lock``, which the kernel releases when the process dies.

A beat that is not the leader opens no schedule file, sends nothing and says so once. When
it takes over, it continues the leader's schedule: the leader records each entry's last send
time beside the lock (a Redis hash, or a JSON file under VAR_DIR), so jobs are neither
repeated at take-over nor delayed by a full period.

Each job is sent with ``period``: the start of its period in epoch seconds,
floor(send time / run_every) * run_every (for crontab entries, the minute), computed here,
not by the worker. ``tenants.scheduling.ScheduledJob`` claims (job, period) before running,
so a second send of the same period, whatever its cause, does nothing.
"""

from __future__ import annotations

import copy
import datetime as dt
import fcntl
import json
import logging
import math
import os
import socket
import uuid
from pathlib import Path
from typing import Any, Protocol

from celery.beat import PersistentScheduler, ScheduleEntry
from celery.utils.time import maybe_make_aware
from django.conf import settings

logger = logging.getLogger(__name__)

# The keyword ``tenants.scheduling.ScheduledJob`` reads (PERIOD_KWARG there).
PERIOD_KWARG = "period"
LOCK_KEY = "baomi:beat:leader"
# A standby asks for the lock this often: it takes over at most a second after it expires.
STANDBY_POLL_SECONDS = 1.0

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


def _token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


class LeaderLock(Protocol):
    description: str

    def acquire(self) -> bool: ...

    def renew(self) -> bool: ...

    def release(self) -> None: ...

    def holder(self) -> str | None: ...

    def last_sent(self) -> dict[str, float]: ...

    def remember_sent(self, name: str, when: float) -> None: ...


class RedisLeaderLock:
    """The leader lock in Redis: beats on several hosts share it."""

    def __init__(self, url: str, *, ttl_seconds: int, key: str = LOCK_KEY) -> None:
        import redis

        timeout = max(1.0, ttl_seconds / 6)
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        # Each entry's last send time, beside the lock: a new leader continues the schedule.
        self.key, self.sent_key = key, f"{key}:last-sent"
        self.ttl_ms = ttl_seconds * 1000
        self.token = _token()
        self.description = f"redis key {key}"
        self._renew = self.client.register_script(_RENEW)
        self._release = self.client.register_script(_RELEASE)

    def acquire(self) -> bool:
        return bool(self.client.set(self.key, self.token, nx=True, px=self.ttl_ms))

    def renew(self) -> bool:
        return bool(self._renew(keys=[self.key], args=[self.token, self.ttl_ms]))

    def release(self) -> None:
        self._release(keys=[self.key], args=[self.token])

    def holder(self) -> str | None:
        value = self.client.get(self.key)
        return value.decode() if isinstance(value, bytes) else value

    def last_sent(self) -> dict[str, float]:
        raw: dict[bytes, bytes] = self.client.hgetall(self.sent_key)  # type: ignore[assignment]
        return {name.decode(): float(when) for name, when in raw.items()}

    def remember_sent(self, name: str, when: float) -> None:
        self.client.hset(self.sent_key, name, repr(when))


class FileLeaderLock:
    """The leader lock as an exclusive flock: beats on one host sharing VAR_DIR (the demo)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sent_path = path.with_name(path.stem + "-last-sent.json")
        self.token = _token()
        self.description = f"file lock {path}"
        self._fd: int | None = None
        self._held = False

    def acquire(self) -> bool:
        if self._held:
            return True
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, self.token.encode(), 0)
        self._held = True
        return True

    def renew(self) -> bool:
        # The kernel holds a flock for as long as the process lives.
        return self._held

    def release(self) -> None:
        if self._fd is not None:
            if self._held:
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
        self._fd, self._held = None, False

    def holder(self) -> str | None:
        try:
            return self.path.read_text() or None
        except OSError:
            return None

    def last_sent(self) -> dict[str, float]:
        try:
            return {str(k): float(v) for k, v in json.loads(self.sent_path.read_text()).items()}
        except (OSError, ValueError, AttributeError):
            return {}

    def remember_sent(self, name: str, when: float) -> None:
        sent = {**self.last_sent(), name: when}
        partial = self.sent_path.with_suffix(".partial")
        partial.write_text(json.dumps(sent))
        partial.replace(self.sent_path)


def leader_lock_from_settings() -> LeaderLock:
    if settings.REDIS_URL:
        return RedisLeaderLock(settings.REDIS_URL, ttl_seconds=settings.BAOMI_BEAT_LOCK_SECONDS)
    return FileLeaderLock(Path(settings.VAR_DIR) / "celerybeat-leader.lock")


def _epoch(moment: dt.datetime) -> float:
    return maybe_make_aware(moment).timestamp()


def period_of(entry: ScheduleEntry, when: float) -> int:
    """The start (epoch seconds) of the period that ``entry`` sent at ``when`` belongs to."""
    run_every = getattr(entry.schedule, "run_every", None)
    seconds = run_every.total_seconds() if isinstance(run_every, dt.timedelta) else 60
    length = max(1, int(seconds))
    return math.floor(when / length) * length


class LeaderScheduler(PersistentScheduler):
    """A PersistentScheduler that sends only while it holds the leader lock (module doc)."""

    def __init__(self, *args: Any, lock: LeaderLock | None = None, **kwargs: Any) -> None:
        self.lock = lock or leader_lock_from_settings()
        self.leading = False
        self._said_standby = False
        ttl = settings.BAOMI_BEAT_LOCK_SECONDS
        self.renew_every = max(1.0, ttl / 6)
        # Persist the schedule after every send, so a restart continues it.
        kwargs.setdefault("sync_every_tasks", 1)
        super().__init__(*args, **kwargs)
        # Ticks (and so renewals) come well inside the lock's lifetime.
        configured = float(getattr(self, "max_interval", self.renew_every))
        self.max_interval = min(configured, self.renew_every)

    # The schedule file is opened only by the leader: two beats sharing one file would
    # corrupt it, and a standby has nothing to schedule.
    def setup_schedule(self) -> None:
        self._store = None

    def get_schedule(self) -> dict[str, ScheduleEntry]:
        return {} if self._store is None else self._store["entries"]

    schedule = property(get_schedule, PersistentScheduler.set_schedule)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if not self._hold_lock():
            return STANDBY_POLL_SECONDS
        return min(super().tick(*args, **kwargs), self.max_interval)

    def _hold_lock(self) -> bool:
        try:
            # A leader whose renewal failed on a network error may still own the key.
            held = self.lock.renew() if self.leading else self.lock.acquire() or self.lock.renew()
        except Exception as error:  # Redis unreachable: nobody can prove they lead.
            logger.warning("beat: leader lock unreachable (%s)", type(error).__name__)
            held = False
        if held and not self.leading:
            logger.info(
                "beat: holding the leader lock (%s); sending scheduled jobs", self.lock.description
            )
            self.leading, self._said_standby = True, False
            self._take_over()
        elif not held and self.leading:
            logger.warning("beat: lost the leader lock (%s); standing by", self.lock.description)
            self.leading, self._said_standby = False, True
            self._close_store()
        elif not held and not self._said_standby:
            logger.info(
                "beat: another beat (%s) holds the leader lock (%s); standing by, sending nothing",
                self._holder(),
                self.lock.description,
            )
            self._said_standby = True
        return held

    def _holder(self) -> str:
        try:
            return self.lock.holder() or "unknown"
        except Exception:
            return "unknown"

    def _take_over(self) -> None:
        PersistentScheduler.setup_schedule(self)
        try:
            shared = self.lock.last_sent()
        except Exception as error:
            logger.warning("beat: last send times unreadable (%s)", type(error).__name__)
            shared = {}
        for name, entry in list(self.schedule.items()):
            when = shared.get(name)
            if when is not None and when > _epoch(entry.last_run_at):
                entry.last_run_at = dt.datetime.fromtimestamp(when, tz=dt.UTC)
                self.schedule[name] = entry
        self._heap = None
        self.sync()

    def _close_store(self) -> None:
        if self._store is not None:
            self._store.sync()
            self._store.close()
        self._store, self._heap = None, None

    def apply_async(
        self, entry: ScheduleEntry, producer: Any = None, advance: bool = True, **kwargs: Any
    ) -> Any:
        if advance:
            entry = self.reserve(entry)
        # tick() reserves before it sends the entry as it was: the reserved one is current.
        reserved = self.schedule.get(entry.name, entry)
        when = _epoch(reserved.last_run_at)
        sent = entry
        if getattr(self.app.tasks.get(entry.task), "claims_periods", False):
            # Only our ScheduledJob tasks take the keyword (not celery.backend_cleanup).
            sent = copy.copy(entry)
            sent.kwargs = {**(entry.kwargs or {}), PERIOD_KWARG: period_of(entry, when)}
        result = super().apply_async(sent, producer=producer, advance=False, **kwargs)
        try:
            self.lock.remember_sent(entry.name, when)
        except Exception as error:  # the period claim still stops a repeat
            logger.warning(
                "beat: could not record the send of %s (%s)", entry.name, type(error).__name__
            )
        return result

    def close(self) -> None:
        try:
            super().close()
        finally:
            try:
                self.lock.release()  # only the token's owner deletes the key
            except Exception as error:  # it expires on its own
                logger.warning("beat: leader lock not released (%s)", type(error).__name__)
            self.leading = False
