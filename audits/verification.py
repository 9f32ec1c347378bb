from __future__ import annotations

from audits.chain import CHAINED_FIELDS, ChainBreak, verify_rows
from audits.models import AuditChainHead, AuditEvent
from tenants.models import Tenant
from tenants.scoping import tenant_scope

BATCH = 20000


def verify_tenant_chain(tenant: Tenant) -> tuple[int, ChainBreak | None]:
    """Recompute ``tenant``'s chain in sequence order, streaming in batches."""
    with tenant_scope(tenant):
        head = AuditChainHead.objects.filter(tenant=tenant).values_list("sequence", "hash").first()
        rows = (
            AuditEvent.objects.order_by("sequence")
            .values_list("id", "hash", *CHAINED_FIELDS[1:])
            .iterator(chunk_size=BATCH)
        )
        return verify_rows(tenant.pk, rows, head if head is not None else (0, "0" * 64))
