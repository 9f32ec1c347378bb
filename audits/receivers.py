"""Events from earlier layers that are recorded in the audit log."""

from __future__ import annotations

from typing import Any

from audits.services import record_event
from tenants.signals import tenant_change


def _record_tenant_change(
    sender: Any, *, action: str, actor: Any, tenant: Any, target: Any, **_: Any
) -> None:
    record_event(tenant=tenant, actor=actor, action=action, target=target)


def connect() -> None:
    tenant_change.connect(_record_tenant_change, dispatch_uid="audits.tenant_change")
