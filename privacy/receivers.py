from __future__ import annotations

from typing import Any

from celery.signals import worker_init
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from privacy.keys import ensure_tenant_keys
from privacy.ledger_file import require_writable_location
from tenants.signals import tenant_change


def _create_keys_of_new_tenant(sender: Any, *, action: str, tenant: Any, **_: Any) -> None:
    if action == "tenant.created":
        ensure_tenant_keys(tenant)


def _refuse_worker_without_ledger(**_: Any) -> None:
    # A production worker erases (retention sweeps, online requests): it must write the
    # same ledger as the web server, or it does not start (docs/privacy.md).
    # Celery logs and swallows a receiver's exceptions, so the refusal exits the process.
    if settings.PRODUCTION:
        try:
            require_writable_location()
        except ImproperlyConfigured as error:
            raise SystemExit(f"baomi: {error}") from None


def connect() -> None:
    tenant_change.connect(_create_keys_of_new_tenant, dispatch_uid="privacy.tenant_created")
    worker_init.connect(_refuse_worker_without_ledger, dispatch_uid="privacy.worker_ledger")
