"""Training's Celery tasks: thin, ids in, one service call inside."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from tenants.models import Tenant
from tenants.tasks import ScheduledJob, TenantTask
from training.reminders import run_tenant_reminders


@shared_task(base=ScheduledJob, bind=True, acks_late=True, ignore_result=True)
def send_training_reminders(self: ScheduledJob) -> int:
    """Daily beat job: one ``send_tenant_training_reminders`` per active tenant (its id
    only), on the queue this job came from. Returns the number of tenants queued."""
    return self.fan_out(send_tenant_training_reminders)


@shared_task(base=TenantTask, acks_late=True, ignore_result=True)
def send_tenant_training_reminders(tenant: Tenant) -> dict[str, Any]:
    """One tenant's enrolments refreshed and its reminders and escalations sent
    (training.reminders); safe to run twice, or at once on two workers."""
    return run_tenant_reminders(tenant)
