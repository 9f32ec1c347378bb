"""The access statistics' Celery tasks (issue 20): thin, ids in, one call inside.

Kept out of ``audits/tasks.py`` (other areas of issue 20 add theirs there) and imported by
``AuditsConfig.ready()``, so a worker knows them."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from audits.access_rollups import roll_up_access
from tenants.models import Tenant
from tenants.tasks import ScheduledJob, TenantTask

#: Batches one task rolls up at most (a first run over a long log goes on at the next
#: minute's run, leaving the worker to other jobs meanwhile).
MAX_BATCHES_PER_TASK = 20


@shared_task(base=ScheduledJob, bind=True, acks_late=True, ignore_result=True)
def roll_up_access_statistics(self: ScheduledJob) -> int:
    """Beat job, every minute: one ``roll_up_tenant_access`` per active tenant (its id
    only), on the queue this job came from. Returns the number of tenants queued."""
    return self.fan_out(roll_up_tenant_access)


@shared_task(base=TenantTask, acks_late=True, ignore_result=True)
def roll_up_tenant_access(tenant: Tenant) -> dict[str, Any]:
    """One tenant's new access events counted into its statistics; a run that finds
    another one at work on the tenant leaves it to it (each event is counted once)."""
    run = roll_up_access(tenant, max_batches=MAX_BATCHES_PER_TASK, wait=False)
    return {"batches": run.batches, "scanned": run.scanned, "busy": run.busy}
