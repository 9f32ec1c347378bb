"""The alerts' beat job (issue 20, point 2): two evaluations at once open one alert, and the
job runs through a real Celery worker on Redis."""

from __future__ import annotations

import threading
import time as clock
from collections.abc import Callable
from datetime import time, timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from audits.alert_evaluation import evaluate_tenant
from audits.alert_tasks import evaluate_alerts
from audits.alerts import change_supervision_settings
from audits.models import AccessAlert
from tenants.models import Role, ScheduledRun, Tenant, User
from tenants.scheduling import period_start
from tenants.scoping import tenant_scope
from tenants.tasks import clear_expired_sessions
from tests.factories import AuditEventFactory, TenantFactory, UserFactory

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks and a real worker need PostgreSQL"
)


def _burst(reveals: int) -> tuple[Tenant, User]:
    tenant = TenantFactory()
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    change_supervision_settings(
        tenant=tenant,
        actor=officer,
        values={"reveal_burst_count": 3, "workday_start": time(0, 0), "workday_end": time(0, 0)},
    )
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    start = timezone.now()
    for second in range(reveals):
        AuditEventFactory(tenant=tenant, actor=agent, at=start + timedelta(seconds=second))
    return tenant, agent


def _alerts(tenant: Tenant) -> list[tuple[str, int]]:
    with tenant_scope(tenant):
        return list(AccessAlert.objects.values_list("rule", "event_count"))


@needs_postgresql
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_two_evaluations_at_once_open_one_alert() -> None:
    tenant, _agent = _burst(4)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            evaluate_tenant(tenant)
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (errors, _alerts(tenant)) == ([], [("reveal_burst", 4)])


def _done(job: str, period: int) -> bool:
    return ScheduledRun.objects.filter(
        job=job, period=period_start(period), status=ScheduledRun.Status.DONE
    ).exists()


def _wait(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = clock.monotonic() + seconds
    while clock.monotonic() < deadline:
        if condition():
            return
        clock.sleep(0.1)
    raise AssertionError("the worker did not finish in time")


@needs_postgresql
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_the_beat_job_on_a_real_worker_raises_the_alert_once(worker: str) -> None:
    tenant, _agent = _burst(3)
    period = int(timezone.now().timestamp())
    for offset in (0, 1):  # two beats: the second finds nothing new
        evaluate_alerts.apply_async(kwargs={"period": period + offset}, queue=worker)
        _wait(lambda offset=offset: _done(evaluate_alerts.name, period + offset))
        # A marker job behind the tenant's task: when it is done, so is the task.
        clear_expired_sessions.apply_async(kwargs={"period": period + offset}, queue=worker)
        _wait(lambda offset=offset: _done(clear_expired_sessions.name, period + offset))
    assert _alerts(tenant) == [("reveal_burst", 3)]


@needs_postgresql
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_two_promotions_at_once_open_one_case_and_refuse_the_other() -> None:
    from audits.alerts import promote_alert
    from core.errors import Conflict
    from incidents.models import IncidentCase
    from tests.factories import AccessAlertFactory

    tenant = TenantFactory()
    alert = AccessAlertFactory(tenant=tenant)
    supervisor = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def run() -> None:
        try:
            barrier.wait()
            promote_alert(alert=alert, actor=supervisor)
            outcomes.append("promoted")
        except Conflict as error:
            outcomes.append(type(error).__name__)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with tenant_scope(tenant):
        cases = IncidentCase.objects.filter(alert_id=alert.pk).count()
    assert (sorted(outcomes), cases) == (["Conflict", "promoted"], 1)
