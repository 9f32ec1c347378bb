"""Nightly backups are retried and verified; a day without a verified backup is an audited
alert in every tenant's log, once a day."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from audits.models import AuditEvent
from privacy.backups import backup_retry_delay, list_backups
from privacy.housekeeping import BACKUP_ALERT_JOB, alert_if_backups_overdue
from privacy.selectors import NIGHTLY_BACKUP_JOB
from privacy.tasks import check_backup_freshness, nightly_backup
from tenants.models import ScheduledRun, Tenant
from tenants.scoping import tenant_scope
from tests.factories import TenantFactory

# As in test_backups.py: a backup of the in-memory SQLite test database cannot be taken.
makes_backups = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="backup tests run on PostgreSQL"
)
PERIOD = 1_800_000_000  # a period start, in epoch seconds, as the beat sends it


def _overdue_events(tenant: Tenant) -> list[dict[str, Any]]:
    with tenant_scope(tenant):
        return list(
            AuditEvent.objects.filter(action="privacy.backup_overdue")
            .order_by("sequence")
            .values("actor", "details")
        )


def _noon_in_two_days() -> Any:
    later = timezone.localtime(timezone.now() + timedelta(days=2))
    return later.replace(hour=12, minute=0, second=0, microsecond=0)


def test_the_nightly_backup_task_is_the_job_its_runs_are_recorded_under() -> None:
    assert nightly_backup.name == NIGHTLY_BACKUP_JOB == "privacy.tasks.nightly_backup"


def test_backup_retry_delays_double_and_stay_below_the_visibility_timeout() -> None:
    assert [backup_retry_delay(n) for n in range(7)] == [120, 240, 480, 960, 1800, 1800, 1800]


@pytest.mark.django_db(databases="__all__")
def test_a_failing_backup_is_retried_with_capped_backoff_then_recorded_as_failed(
    settings: Any, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("")
    settings.BACKUP_DIR = tmp_path / "a-file" / "backups"  # cannot be created
    result = nightly_backup.apply(kwargs={"period": PERIOD})
    run = ScheduledRun.objects.get(job=nightly_backup.name)
    assert (result.state, run.status, run.attempts, run.finished_at is not None) == (
        "FAILURE",
        "failed",
        6,
        True,
    )
    assert [retry["after"] for retry in run.detail["retries"]] == [120, 240, 480, 960, 1800]
    assert run.detail["error"].startswith("NotADirectoryError: [Errno 20] Not a directory")


@makes_backups
@pytest.mark.django_db(databases="__all__")
def test_a_nightly_backup_is_verified_and_recorded_with_its_ids() -> None:
    nightly_backup.apply(kwargs={"period": PERIOD})
    run = ScheduledRun.objects.get(job=nightly_backup.name)
    on_disk = sorted(f"{m.id}.{m.kind}" for m in list_backups())
    assert (run.status, run.attempts, run.detail["verified"], sorted(run.detail["backups"])) == (
        "done",
        1,
        True,
        on_disk,
    )


@makes_backups
@pytest.mark.django_db(databases="__all__")
def test_a_second_nightly_backup_of_the_same_period_does_nothing() -> None:
    nightly_backup.apply(kwargs={"period": PERIOD})
    nightly_backup.apply(kwargs={"period": PERIOD})
    assert (len(list_backups()), ScheduledRun.objects.count()) == (2, 1)


@makes_backups
@pytest.mark.django_db(databases="__all__")
def test_overdue_backups_alert_every_active_tenant_once_a_day() -> None:
    tenants = [TenantFactory(), TenantFactory()]
    TenantFactory(is_active=False)
    nightly_backup.apply(kwargs={"period": PERIOD})
    verified = ScheduledRun.objects.get(job=nightly_backup.name).finished_at
    noon = _noon_in_two_days()
    first = alert_if_backups_overdue(now=noon, task_id=str(uuid.uuid4()))
    same_day = alert_if_backups_overdue(now=noon + timedelta(hours=1), task_id=str(uuid.uuid4()))
    hours = int((noon - verified) / timedelta(hours=1))
    assert (first, same_day) == ([t.pk for t in tenants], [])
    assert [_overdue_events(t) for t in tenants] == [
        [
            {
                "actor": "system:backup-monitor",
                "details": {"last_verified": verified.isoformat(), "hours": hours},
            }
        ]
    ] * 2


@makes_backups
@pytest.mark.django_db(databases="__all__")
def test_the_overdue_alert_comes_again_the_next_day() -> None:
    tenant = TenantFactory()
    nightly_backup.apply(kwargs={"period": PERIOD})
    noon = _noon_in_two_days()
    alert_if_backups_overdue(now=noon, task_id=str(uuid.uuid4()))
    alert_if_backups_overdue(now=noon + timedelta(days=1), task_id=str(uuid.uuid4()))
    assert (
        len(_overdue_events(tenant)),
        ScheduledRun.objects.filter(job=BACKUP_ALERT_JOB).count(),
    ) == (
        2,
        2,
    )


@makes_backups
@pytest.mark.django_db(databases="__all__")
def test_no_alert_while_a_verified_backup_is_recent() -> None:
    tenant = TenantFactory()
    nightly_backup.apply(kwargs={"period": PERIOD})
    alerted = alert_if_backups_overdue(
        now=timezone.now() + timedelta(hours=25), task_id=str(uuid.uuid4())
    )
    assert (alerted, _overdue_events(tenant)) == ([], [])


@pytest.mark.django_db(databases="__all__")
def test_a_failed_night_does_not_count_as_a_verified_backup(settings: Any, tmp_path: Path) -> None:
    tenant = TenantFactory()
    (tmp_path / "a-file").write_text("")
    settings.BACKUP_DIR = tmp_path / "a-file" / "backups"
    nightly_backup.apply(kwargs={"period": PERIOD})
    alerted = alert_if_backups_overdue(now=_noon_in_two_days(), task_id=str(uuid.uuid4()))
    assert (alerted, _overdue_events(tenant)[0]["details"]["last_verified"]) == ([tenant.pk], None)


@pytest.mark.django_db(databases="__all__")
def test_a_deployment_without_scheduled_runs_is_not_yet_overdue() -> None:
    TenantFactory()
    assert alert_if_backups_overdue(now=timezone.now(), task_id=str(uuid.uuid4())) == []


@makes_backups
@pytest.mark.django_db(databases="__all__")
def test_the_hourly_freshness_check_prunes_and_is_recorded(settings: Any) -> None:
    nightly_backup.apply(kwargs={"period": PERIOD})
    main = [f"{m.id}.main" for m in list_backups() if m.kind == "main"]
    settings.BACKUP_KEEP_DAILY = settings.BACKUP_KEEP_WEEKLY = settings.BACKUP_KEEP_MONTHLY = 0
    check_backup_freshness.apply(kwargs={"period": PERIOD})
    run = ScheduledRun.objects.get(job=check_backup_freshness.name)
    assert (run.status, run.detail) == ("done", {"pruned": main, "alerted_tenants": 0})
