"""audits' Celery tasks (issue 20, point 5): thin, ids in, one service call inside."""

from __future__ import annotations

import datetime as dt
from typing import Any

from celery import shared_task
from django.utils import timezone

from audits.anchoring import anchor_chain_head, hour_of
from audits.integrity import verify_and_record
from tenants.models import Tenant
from tenants.tasks import ScheduledJob, TenantTask


@shared_task(base=ScheduledJob, bind=True, acks_late=True, ignore_result=True)
def anchor_audit_chains(self: ScheduledJob) -> int:
    """Hourly beat job: one ``anchor_tenant_chain`` per active tenant (its id and the hour,
    as epoch seconds), on the queue this job came from. Returns the number queued."""
    hour = int(hour_of(timezone.now()).timestamp())
    return self.fan_out(anchor_tenant_chain, hour)


@shared_task(base=TenantTask, acks_late=True, ignore_result=True)
def anchor_tenant_chain(tenant: Tenant, hour: int) -> dict[str, Any]:
    """One tenant's chain head anchored for ``hour`` (once, however often it runs)."""
    result = anchor_chain_head(tenant=tenant, now=dt.datetime.fromtimestamp(hour, tz=dt.UTC))
    return {"sequence": result.anchor.sequence, "created": result.created}


@shared_task(base=ScheduledJob, bind=True, acks_late=True, ignore_result=True)
def verify_audit_chains(self: ScheduledJob) -> int:
    """Nightly beat job: one ``verify_tenant_audit_chain`` per active tenant (its id and
    the night's date at midnight UTC, as epoch seconds). Returns the number queued."""
    now = timezone.now().astimezone(dt.UTC)
    night = int(now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())
    return self.fan_out(verify_tenant_audit_chain, night)


@shared_task(base=TenantTask, acks_late=True, ignore_result=True)
def verify_tenant_audit_chain(tenant: Tenant, period: int) -> dict[str, Any]:
    """One tenant's chain verified with its anchors and the result recorded (once per
    period: a redelivery finds the record and does nothing)."""
    run, created = verify_and_record(
        tenant=tenant, period=dt.datetime.fromtimestamp(period, tz=dt.UTC)
    )
    return {"ok": run.ok, "created": created}
