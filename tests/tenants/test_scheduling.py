"""One beat sends, each job runs once per period: the claim, the leader lock, and real
beat and worker processes."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from celery.beat import ScheduleEntry
from celery.schedules import crontab
from django.contrib.sessions.models import Session
from django.db import connections
from django.utils import timezone

from config import beat
from config.beat import FileLeaderLock, LeaderScheduler, period_of
from config.celery import app as celery_app
from tenants.models import ScheduledRun
from tenants.scheduling import PERIOD_KWARG, claim_scheduled_run, finish_scheduled_run
from tenants.tasks import clear_expired_sessions
from tests.conftest import REQUIRE_SERVICES

ROOT = Path(__file__).resolve().parents[2]
CELERY = [sys.executable, "-m", "celery", "-A", "config"]
# A Redis database no other test uses; flushed before each test that starts processes.
BEAT_REDIS_URL = "redis://127.0.0.1:6379/11"
PERIOD = timezone.now().replace(microsecond=0)
JOBS = {
    "clear-expired-sessions": "tenants.tasks.clear_expired_sessions",
    "retention-sweep": "privacy.tasks.retention_sweep",
    "nightly-backup": "privacy.tasks.nightly_backup",
}


# --- The claim -----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_second_execution_of_the_same_period_is_a_no_op() -> None:
    first = claim_scheduled_run(job="job", period=PERIOD, task_id="a")
    second = claim_scheduled_run(job="job", period=PERIOD, task_id="b")
    assert (first is not None, second) == (True, None)


@pytest.mark.django_db
def test_the_same_execution_redelivered_goes_on() -> None:
    claim_scheduled_run(job="job", period=PERIOD, task_id="a")
    again = claim_scheduled_run(job="job", period=PERIOD, task_id="a")
    assert again is not None and (again.status, again.attempts) == ("running", 2)


@pytest.mark.django_db
def test_a_finished_execution_redelivered_does_nothing() -> None:
    run = claim_scheduled_run(job="job", period=PERIOD, task_id="a")
    assert run is not None
    finish_scheduled_run(run, status=ScheduledRun.Status.DONE)
    assert claim_scheduled_run(job="job", period=PERIOD, task_id="a") is None


@pytest.mark.django_db
def test_the_next_period_and_another_job_are_claimed_anew() -> None:
    claim_scheduled_run(job="job", period=PERIOD, task_id="a")
    claims = [
        claim_scheduled_run(job="job", period=PERIOD + timedelta(hours=1), task_id="b"),
        claim_scheduled_run(job="other", period=PERIOD, task_id="c"),
    ]
    assert [claim is not None for claim in claims] == [True, True]


@pytest.mark.django_db
def test_a_beat_job_sent_twice_for_one_period_runs_once() -> None:
    period = int(PERIOD.timestamp())
    clear_expired_sessions.apply(kwargs={PERIOD_KWARG: period})
    Session.objects.create(
        session_key="expired", session_data="", expire_date=timezone.now() - timedelta(1)
    )
    clear_expired_sessions.apply(kwargs={PERIOD_KWARG: period})
    run = ScheduledRun.objects.get()
    assert (Session.objects.count(), run.status, run.detail) == (1, "done", {"result": 0})


@pytest.mark.django_db
def test_a_beat_job_of_the_next_period_runs() -> None:
    period = int(PERIOD.timestamp())
    clear_expired_sessions.apply(kwargs={PERIOD_KWARG: period})
    Session.objects.create(
        session_key="expired", session_data="", expire_date=timezone.now() - timedelta(1)
    )
    clear_expired_sessions.apply(kwargs={PERIOD_KWARG: period + 900})
    assert (Session.objects.count(), ScheduledRun.objects.count()) == (0, 2)


@pytest.mark.django_db
def test_a_job_sent_without_a_period_is_recorded_as_manual() -> None:
    clear_expired_sessions.apply()
    assert ScheduledRun.objects.get().detail == {"result": 0, "manual": True}


def test_the_beat_and_the_jobs_agree_on_the_keyword() -> None:
    assert beat.PERIOD_KWARG == PERIOD_KWARG


# --- The period ----------------------------------------------------------------------


def test_an_interval_entry_period_starts_at_a_multiple_of_its_interval() -> None:
    entry = ScheduleEntry(name="e", task="t", schedule=timedelta(hours=1), app=celery_app)
    assert [period_of(entry, when) for when in (7199.9, 7200.0, 10799.5)] == [3600, 7200, 7200]


def test_a_crontab_entry_period_is_its_minute() -> None:
    entry = ScheduleEntry(name="e", task="t", schedule=crontab(minute="*/5"), app=celery_app)
    assert period_of(entry, 125.5) == 120


# --- The leader lock, in process (file lock: the demo's) ----------------------------------


@contextmanager
def _schedulers(tmp_path: Path, count: int) -> Iterator[list[LeaderScheduler]]:
    made = [
        LeaderScheduler(
            app=celery_app,
            schedule_filename=str(tmp_path / f"schedule-{n}"),
            lock=FileLeaderLock(tmp_path / "leader.lock"),
        )
        for n in range(count)
    ]
    try:
        yield made
    finally:
        for scheduler in made:
            scheduler.close()


def test_only_one_scheduler_leads_and_the_standby_opens_no_schedule(tmp_path: Path) -> None:
    with _schedulers(tmp_path, 2) as (leader, standby):
        leader.tick()
        waits = standby.tick()
        assert (leader.leading, standby.leading, dict(standby.schedule), waits) == (
            True,
            False,
            {},
            beat.STANDBY_POLL_SECONDS,
        )


def test_the_standby_takes_over_when_the_leader_closes(tmp_path: Path) -> None:
    with _schedulers(tmp_path, 2) as (leader, standby):
        leader.tick()
        standby.tick()
        leader.close()
        standby.tick()
        assert (standby.leading, "clear-expired-sessions" in standby.schedule) == (True, True)


def test_a_leader_ticks_well_inside_its_lock_lifetime(tmp_path: Path, settings: Any) -> None:
    with _schedulers(tmp_path, 1) as (leader,):
        assert leader.tick() <= leader.max_interval <= settings.BAOMI_BEAT_LOCK_SECONDS / 6


# --- Real processes --------------------------------------------------------------------


class Processes:
    """Celery subprocesses of one test: each logs to a file; all are stopped at the end."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env = folder, env
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.folder / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(  # noqa: S603 (our own command line)
                [*CELERY, *args],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started[name] = process
        return process

    def beat(self, name: str) -> subprocess.Popen[bytes]:
        return self.start(
            name,
            "beat",
            "--loglevel=INFO",
            f"--schedule={self.folder / (name + '-schedule')}",
            f"--pidfile={self.folder / (name + '.pid')}",
        )

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def stop(self, *names: str) -> None:
        chosen = [self.started[n] for n in names or list(self.started)]
        for process in chosen:
            if process.poll() is None:
                process.terminate()
        for process in chosen:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


@contextmanager
def _processes(folder: Path, env: dict[str, str]) -> Iterator[Processes]:
    processes = Processes(folder, env)
    try:
        yield processes
    finally:
        processes.stop()


def _wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_"))}
    env.pop("KEYSTORE_DATABASE_URL", None)
    env.update(
        BAOMI_ENV="test",
        PYTHONUNBUFFERED="1",
        BACKUP_DIR=str(tmp_path / "backups"),
        BAOMI_HOUSEKEEPING_SECONDS="5",
        BAOMI_RETENTION_SWEEP_SECONDS="5",
        BAOMI_BACKUP_SECONDS="5",
        BAOMI_BEAT_LOCK_SECONDS="6",
    )
    env.update(extra)
    return env


def _database_url(alias: str) -> str:
    config = connections[alias].settings_dict
    password = f":{config['PASSWORD']}" if config.get("PASSWORD") else ""
    host = config.get("HOST") or "127.0.0.1"
    return f"postgres://{config['USER']}{password}@{host}:{config.get('PORT') or 5432}/{config['NAME']}"


@pytest.fixture
def beat_redis(redis_service: str) -> Iterator[Any]:
    import redis

    client = redis.Redis.from_url(BEAT_REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


def _needs_postgresql() -> None:
    if connections["default"].vendor != "postgresql":
        if REQUIRE_SERVICES:
            pytest.fail("REQUIRE_SERVICES=1 but the test database is not PostgreSQL")
        pytest.skip("needs PostgreSQL: worker subprocesses cannot reach SQLite's test database")


def _sends(log: str, entry: str) -> int:
    return log.count(f"Sending due task {entry} (")


def test_the_demo_beats_on_the_filesystem_broker_send_once_with_periods(tmp_path: Path) -> None:
    """Two beats without Redis (the demo's set-up, its own var/): one leads by file lock."""
    var = tmp_path / "var"
    env = _base_env(tmp_path, BAOMI_VAR_DIR=str(var))
    with _processes(tmp_path, env) as processes:
        processes.beat("beat-a")
        processes.beat("beat-b")
        queue = var / "celery-broker" / "queue"
        _wait_for(
            lambda: len(list(queue.glob("*"))) >= 3 if queue.exists() else False,
            30,
            "the first scheduled jobs",
        )
        # On a busy host the second beat may still be starting when the leader has sent:
        # wait until it has met the lock too, then stop both.
        _wait_for(
            lambda: any("standing by" in processes.log(n) for n in ("beat-a", "beat-b")),
            30,
            "a beat standing by",
        )
        processes.stop()
        logs = [processes.log("beat-a"), processes.log("beat-b")]
    messages = [json.loads(path.read_text()) for path in queue.glob("*")]
    bodies = [json.loads(base64.b64decode(m["body"])) for m in messages]
    sent = Counter(m["headers"]["task"] for m in messages)
    assert sorted(["standing by" in log for log in logs]) == [False, True]
    assert sent == Counter({task: sum(_sends(log, e) for log in logs) for e, task in JOBS.items()})
    assert {body[1][PERIOD_KWARG] % 5 for body in bodies} == {0}


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_two_beats_and_a_worker_run_each_job_exactly_once_per_period(
    tmp_path: Path, beat_redis: Any
) -> None:
    _needs_postgresql()
    env = _base_env(
        tmp_path,
        REDIS_URL=BEAT_REDIS_URL,
        DATABASE_URL=_database_url("default"),
        KEYSTORE_DATABASE_URL=_database_url("keystore"),
    )
    with _processes(tmp_path, env) as processes:
        processes.start(
            "worker",
            "worker",
            "--loglevel=INFO",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        )
        processes.beat("beat-a")
        processes.beat("beat-b")
        time.sleep(24)
        processes.stop("beat-a", "beat-b")

        def drained() -> bool:
            log = processes.log("worker")
            return log.count("] received") == log.count("] succeeded in")

        _wait_for(drained, 20, "the worker to finish what it received")
        processes.stop("worker")
        logs = {name: processes.log(name) for name in ("beat-a", "beat-b", "worker")}

    runs = list(ScheduledRun.objects.order_by("period"))
    for entry, job in JOBS.items():
        periods = [run.period for run in runs if run.job == job]
        sends = _sends(logs["beat-a"], entry) + _sends(logs["beat-b"], entry)
        executions = len(re.findall(rf"Task {re.escape(job)}\[[^\]]+\] succeeded", logs["worker"]))
        assert (len(periods) >= 2, len(set(periods)), sends, executions) == (
            True,
            len(periods),
            len(periods),
            len(periods),
        ), job
        assert all(p.timestamp() % 5 == 0 for p in periods), job
    backups = [run.detail for run in runs if run.job == JOBS["nightly-backup"]]
    assert {(run.status, run.detail.get("manual")) for run in runs} == {("done", None)}
    assert all(detail["verified"] and len(detail["backups"]) == 2 for detail in backups)
    assert len({b for detail in backups for b in detail["backups"]}) == 2 * len(backups)
    assert sorted("standing by" in logs[name] for name in ("beat-a", "beat-b")) == [False, True]
    assert "skipping" not in logs["worker"]


def test_the_standby_beat_takes_over_within_the_lock_ttl_when_the_leader_is_killed(
    tmp_path: Path, beat_redis: Any
) -> None:
    env = _base_env(tmp_path, REDIS_URL=BEAT_REDIS_URL)
    ttl = int(env["BAOMI_BEAT_LOCK_SECONDS"])
    with _processes(tmp_path, env) as processes:
        beats = {name: processes.beat(name) for name in ("beat-a", "beat-b")}

        def holder_pid() -> int | None:
            value = beat_redis.get(beat.LOCK_KEY)
            return int(value.decode().split(":")[1]) if value else None

        leader_pid = _wait_for(holder_pid, 30, "a beat to take the leader lock")
        (leader,) = [name for name, p in beats.items() if p.pid == leader_pid]
        (standby,) = [name for name in beats if name != leader]
        _wait_for(lambda: "standing by" in processes.log(standby), 30, "the standby's message")
        os.kill(leader_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        beats[leader].wait(timeout=5)
        _wait_for(lambda: holder_pid() == beats[standby].pid, ttl + 5, "the take-over")
        took = time.monotonic() - killed_at
        _wait_for(
            lambda: "Sending due task" in processes.log(standby), 15, "the new leader to send"
        )
    assert took <= ttl + beat.STANDBY_POLL_SECONDS + 0.5
    assert "holding the leader lock" in processes.log(standby)


def test_a_cleanly_stopped_leader_releases_the_lock_at_once(
    tmp_path: Path, beat_redis: Any
) -> None:
    env = _base_env(tmp_path, REDIS_URL=BEAT_REDIS_URL)
    with _processes(tmp_path, env) as processes:
        processes.beat("beat-a")
        token = _wait_for(lambda: beat_redis.get(beat.LOCK_KEY), 30, "the leader lock")
        processes.stop("beat-a")
        assert (token.decode().count(":"), beat_redis.get(beat.LOCK_KEY)) == (2, None)


def test_a_beat_job_refuses_arguments_its_body_does_not_take() -> None:
    with pytest.raises(TypeError, match="too many positional arguments"):
        clear_expired_sessions.apply_async(args=[1], kwargs={PERIOD_KWARG: 0})
