"""The inspections' Celery tasks (imported by audits' AppConfig.ready(), so a worker knows
them): thin, ids in, one call inside."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from audits.inspections.jobs import run_tenant_inspection_jobs
from tenants.models import Tenant
from tenants.tasks import ScheduledJob, TenantTask


@shared_task(
    base=ScheduledJob,
    bind=True,
    acks_late=True,
    ignore_result=True,
    name="audits.inspections.tasks.run_inspection_jobs",
)
def run_inspection_jobs(self: ScheduledJob) -> int:
    """Daily beat job: one ``run_tenant_inspections`` per active tenant (its id only), on
    the queue this job came from. Returns the number of tenants queued."""
    return self.fan_out(run_tenant_inspections)


@shared_task(
    base=TenantTask,
    acks_late=True,
    ignore_result=True,
    name="audits.inspections.tasks.run_tenant_inspections",
)
def run_tenant_inspections(tenant: Tenant) -> dict[str, Any]:
    """One tenant's overdue follow-ups notified and recurring inspections planned
    (audits.inspections.jobs); safe to run twice, or at once on two workers."""
    return run_tenant_inspection_jobs(tenant)
