from __future__ import annotations

from typing import Any

from privacy.keys import ensure_tenant_keys
from tenants.signals import tenant_change


def _create_keys_of_new_tenant(sender: Any, *, action: str, tenant: Any, **_: Any) -> None:
    if action == "tenant.created":
        ensure_tenant_keys(tenant)


def connect() -> None:
    tenant_change.connect(_create_keys_of_new_tenant, dispatch_uid="privacy.tenant_created")
