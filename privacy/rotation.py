"""Key rotation: rewrap tenant keys under a new master version; rewrap subject keys under
a new tenant key version, in resumable batches, then retire the old version."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.services import record_event
from core.errors import Conflict
from privacy.keys import (
    _tenant_key_rows,
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
from privacy.signals import tenant_key_rotated
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
    # Later layers (incidents: the case that started it) record the end; sent each time a
    # run finds nothing left, so receivers act once per version themselves.
    tenant_key_rotated.send(sender=TenantKey, tenant=tenant, version=newest.version)
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


# --- Rotation as a background job with progress (issue 18: an incident's containment) ----


@dataclass(frozen=True)
class RotationProgress:
    """Where the tenant's data key rotation stands: ``version`` is the newest data key
    version, ``done`` of ``total`` subject keys are wrapped under it, and ``finished`` once
    they all are and the older versions are erased."""

    version: int
    done: int
    total: int
    finished: bool


def rotation_progress(tenant: Tenant) -> RotationProgress:
    """Read from the databases (not this process's key cache), in four queries."""
    with tenant_scope(tenant):
        keys = TenantKey.objects.filter(purpose=KeyPurpose.DATA)
        newest = keys.order_by("-version").values_list("version", flat=True).first() or 1
        older_live = keys.filter(version__lt=newest).exclude(wrapped_key=b"").exists()
        subject_keys = SubjectKey.objects.all()
        total = subject_keys.count()
        done = subject_keys.filter(tenant_key_version__gte=newest).count()
    return RotationProgress(newest, done, total, done == total and not older_live)


def start_rotation_job(
    *, tenant: Tenant, actor: Actor, batch_size: int = 500, queue: str | None = None
) -> int:
    """Create the next data key version and queue the job that rewraps every subject key
    under it (privacy.tasks.rotate_tenant_subject_keys, ids only), then retires the old
    version and sends ``tenant_key_rotated``. A rotation still under way is a ``Conflict``
    naming its version (the command ``rotate_tenant_key`` resumes one). Returns the new
    version."""
    # Imported here: tasks imports this module.
    from privacy.tasks import rotate_tenant_subject_keys

    with transaction.atomic():
        # The tenant's row lock: two starts cannot both create a version.
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        progress = rotation_progress(tenant)
        if not progress.finished:
            raise Conflict(
                _("A rotation of this tenant's key to version %(version)d is under way.")
                % {"version": progress.version}
            )
        # Another process may have rotated since this one cached the newest version.
        _tenant_key_rows.forget((tenant.pk, KeyPurpose.DATA, None))
        key = start_tenant_key_rotation(tenant=tenant, actor=actor)
        version = key.version
        transaction.on_commit(
            lambda: rotate_tenant_subject_keys.apply_async(
                args=[tenant.pk, batch_size], **({"queue": queue} if queue else {})
            )
        )
    return version
