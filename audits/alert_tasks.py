"""The alerts' Celery jobs (issue 20, point 2): thin, ids in, one service call inside.
Imported by audits' AppConfig.ready() (the module is not ``tasks.py``: other supervision
areas own that name)."""

from __future__ import annotations

from celery import shared_task

from audits.alert_evaluation import evaluate_tenant
from tenants.models import Tenant
from tenants.tasks import ScheduledJob, TenantTask


@shared_task(
    base=ScheduledJob,
    bind=True,
    acks_late=True,
    ignore_result=True,
    name="audits.alert_tasks.evaluate_alerts",
)
def evaluate_alerts(self: ScheduledJob) -> int:
    """Beat job (every two minutes): one ``evaluate_tenant_alerts`` per active tenant (its
    id only), on the queue this job came from. Returns the number of tenants queued."""
    return self.fan_out(evaluate_tenant_alerts)


@shared_task(
    base=TenantTask,
    acks_late=True,
    ignore_result=True,
    name="audits.alert_tasks.evaluate_tenant_alerts",
)
def evaluate_tenant_alerts(tenant: Tenant) -> dict[str, int]:
    """One tenant's new events through the alert rules (audits.alert_evaluation); safe to
    run twice, or at once on two workers (the tenant's watermark row takes turns)."""
    return evaluate_tenant(tenant)
