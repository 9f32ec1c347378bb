"""Key rotation: rewrap tenant keys under a new master version; rewrap subject keys under
a new tenant key version, in resumable batches, then retire the old version."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from audits.services import record_event
from privacy.keys import (
    clear_key_caches,
    create_tenant_key,
    current_master_version,
    tenant_key,
    unwrap_subject_key,
    unwrap_tenant_key,
    wrap_subject_key,
    wrap_tenant_key,
)
from privacy.models import KeyPurpose, SubjectKey, TenantKey
from privacy.routers import KEYSTORE
from tenants.actors import Actor
from tenants.models import Tenant
from tenants.scoping import tenant_scope


def rotate_master_key(*, tenant: Tenant, actor: Actor) -> int:
    """Rewrap ``tenant``'s live keys under the newest master version. Data rows and subject
    keys are untouched. Returns how many keys were rewrapped (0 when already current)."""
    current = current_master_version()
    rewrapped = 0
    with tenant_scope(tenant), transaction.atomic():
        keys = TenantKey.objects.select_for_update().filter(retired_at__isnull=True)
        for key in keys.exclude(master_version=current):
            raw = unwrap_tenant_key(key)
            old = key.master_version
            key.master_version, key.wrapped_key = wrap_tenant_key(
                tenant.pk, key.purpose, key.version, raw
            )
            key.save(update_fields=["master_version", "wrapped_key"])
            record_event(
                tenant=tenant,
                actor=actor,
                action="privacy.master_key_rewrapped",
                target=key,
                details={"from": old, "to": current},
            )
            rewrapped += 1
    return rewrapped


def _rotation_in_progress(tenant: Tenant, newest: int) -> bool:
    with tenant_scope(tenant):
        return SubjectKey.objects.filter(tenant_key_version__lt=newest).exists()


def start_tenant_key_rotation(*, tenant: Tenant, actor: Actor) -> TenantKey:
    """Create the next data key version, unless a rotation is still under way (resume it)."""
    newest = tenant_key(tenant, KeyPurpose.DATA)
    if _rotation_in_progress(tenant, newest.version):
        return newest
    with transaction.atomic():
        key = create_tenant_key(tenant, KeyPurpose.DATA, newest.version + 1)
        record_event(
            tenant=tenant,
            actor=actor,
            action="privacy.tenant_key_created",
            target=key,
            details={"version": key.version},
        )
    return key


def rewrap_subject_keys(*, tenant: Tenant, actor: Actor, batch_size: int = 500) -> int:
    """Rewrap one batch of subject keys under the newest data key; when none remain, retire
    the older versions. Safe to rerun and to run twice at once. Returns keys still to do."""
    newest = tenant_key(tenant, KeyPurpose.DATA)
    with tenant_scope(tenant), transaction.atomic(using=KEYSTORE):
        batch = list(
            SubjectKey.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(tenant_key_version__lt=newest.version)
            .order_by("id")[:batch_size]
        )
        for row in batch:
            raw = unwrap_subject_key(tenant, row)
            row.wrapped_key = wrap_subject_key(tenant, row.id, raw, newest)
            row.tenant_key_version = newest.version
            row.save(update_fields=["wrapped_key", "tenant_key_version"])
    if _rotation_in_progress(tenant, newest.version):
        with tenant_scope(tenant):
            return SubjectKey.objects.filter(tenant_key_version__lt=newest.version).count()
    _retire_older_data_keys(tenant, actor, newest.version)
    return 0


def _retire_older_data_keys(tenant: Tenant, actor: Actor, newest: int) -> None:
    """Retire in three steps, so that a subject key written concurrently under an old version
    is never lost: mark the old versions retired (intake then rewraps its own new key),
    rewrap any straggler written before the mark, and only then erase the old keys."""
    newest_key = tenant_key(tenant, KeyPurpose.DATA, newest)
    with tenant_scope(tenant), transaction.atomic():
        TenantKey.objects.filter(
            purpose=KeyPurpose.DATA, version__lt=newest, retired_at__isnull=True
        ).update(retired_at=timezone.now())
    with tenant_scope(tenant), transaction.atomic(using=KEYSTORE):
        for row in SubjectKey.objects.select_for_update(of=("self",)).filter(
            tenant_key_version__lt=newest
        ):
            raw = unwrap_subject_key(tenant, row, draining=True)
            row.wrapped_key = wrap_subject_key(tenant, row.id, raw, newest_key)
            row.tenant_key_version = newest
            row.save(update_fields=["wrapped_key", "tenant_key_version"])
    with tenant_scope(tenant), transaction.atomic():
        old = (
            TenantKey.objects.select_for_update()
            .filter(purpose=KeyPurpose.DATA, version__lt=newest)
            .exclude(wrapped_key=b"")
        )
        for key in old:
            # Erase the wrapped key: nothing sealed under this version can be opened again,
            # not even a subject key restored from an old key-store backup.
            key.wrapped_key = b""
            key.save(update_fields=["wrapped_key"])
            record_event(
                tenant=tenant,
                actor=actor,
                action="privacy.tenant_key_retired",
                target=key,
                details={"version": key.version},
            )
    clear_key_caches()
