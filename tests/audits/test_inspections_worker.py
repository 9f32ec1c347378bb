"""The daily inspections job (issue 20, point 3) through a real Celery worker and Redis:
an overdue follow-up is notified once to its owner and the supervisors, and a recurring
inspection's next occurrence is planned once, however often the job runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from audits.inspections import jobs, services
from audits.inspections.tasks import run_inspection_jobs
from audits.models import Inspection
from tenants.models import Notification, Role, ScheduledRun
from tenants.scheduling import period_start
from tenants.scoping import tenant_scope
from tenants.tasks import clear_expired_sessions
from tests.audits.inspection_support import (  # noqa: F401 - evidence_in_tmp is a fixture
    DAY,
    evidence_in_tmp,
    overdue_follow_up,
    supervisor,
)
from tests.factories import InspectionFactory, TenantFactory, UserFactory

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a real worker needs PostgreSQL"
)


def _done(job: str, period: int) -> bool:
    return ScheduledRun.objects.filter(
        job=job, period=period_start(period), status=ScheduledRun.Status.DONE
    ).exists()


def _wait(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("the worker did not finish in time")


@needs_postgresql
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_the_daily_job_on_a_real_worker_notifies_and_plans_exactly_once(worker: str) -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    packer = UserFactory(tenant=tenant, roles=[Role.PACKER])
    overdue_follow_up(tenant, boss, packer)
    recurring = InspectionFactory(tenant=tenant, inspector=boss, recurrence="monthly")
    real_now = timezone.now
    clock = {"offset": timedelta(0)}
    first_period = int(real_now().timestamp())
    sends = iter(range(first_period, first_period + 100))

    def beat(offset: timedelta) -> None:
        """The job sent as beat sends it, the clock ``offset`` ahead, then a marker job
        behind the tenant's task on the same queue: when the marker is done, so is it."""
        clock["offset"] = offset
        period = next(sends)
        run_inspection_jobs.apply_async(kwargs={"period": period}, queue=worker)
        _wait(lambda: _done(run_inspection_jobs.name, period))
        clear_expired_sessions.apply_async(kwargs={"period": period}, queue=worker)
        _wait(lambda: _done(clear_expired_sessions.name, period))

    with mock.patch("django.utils.timezone.now", lambda: real_now() + clock["offset"]):
        beat(timedelta(0))  # the follow-up is overdue; the next month is not near yet
        beat(timedelta(hours=1))
        assert recurring.next_date is not None
        ahead = (recurring.next_date - services.local_today(tenant)).days - 10
        beat(timedelta(days=ahead))  # within two weeks of the next date: planned
        beat(timedelta(days=ahead + 1))
    with tenant_scope(tenant):
        kinds = {
            user.username: list(
                Notification.objects.filter(user=user).values_list("kind", flat=True)
            )
            for user in (packer, boss)
        }
        successors = list(
            Inspection.objects.filter(recurs_from=recurring).values_list("planned_for", flat=True)
        )
    assert kinds == {
        packer.username: [jobs.FOLLOW_UP_OVERDUE],
        boss.username: [jobs.FOLLOW_UP_OVERDUE],
    }
    assert successors == [recurring.next_date]


def test_the_inspections_job_runs_daily_from_beat(settings) -> None:
    assert settings.CELERY_BEAT_SCHEDULE["run-inspection-jobs"] == {
        "task": "audits.inspections.tasks.run_inspection_jobs",
        "schedule": timedelta(hours=24),
    }
