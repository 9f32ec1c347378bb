"""The evidence pack's Celery task (issue 20, point 6): thin, ids in, the build inside.
Imported from audits' ``AppConfig.ready()`` so that workers know it."""

from __future__ import annotations

from celery import shared_task

from audits.evidence_build import build_evidence_pack as build
from tenants.models import Tenant
from tenants.tasks import TenantTask


@shared_task(base=TenantTask, acks_late=True, ignore_result=True)
def build_evidence_pack(tenant: Tenant, pack_id: int) -> int | None:
    """Build the pack; a done or failed pack is left as it is (safe to run twice)."""
    pack = build(tenant=tenant, pack_id=pack_id)
    return pack.pk if pack is not None else None
