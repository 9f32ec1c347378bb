"""Vault jobs: resumable subject-key rotation and collection of orphaned subject keys."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

from audits.services import record_event
from privacy.backups import create_backup, prune_backups
from privacy.erasure import sweep_tenant
from privacy.models import DataSubject, ErasureChallenge, SubjectKey
from privacy.rotation import rewrap_subject_keys
from tenants.actors import SystemActor
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tenants.tasks import TenantTask

logger = logging.getLogger(__name__)

ORPHAN_GRACE = timedelta(hours=1)
ORPHAN_BATCH = 1000


@shared_task(base=TenantTask, bind=True, acks_late=True, ignore_result=True)
def rotate_tenant_subject_keys(self: TenantTask, tenant: Tenant, batch_size: int = 500) -> int:
    """One batch per run; queues the next run until every subject key is rewrapped."""
    remaining = rewrap_subject_keys(
        tenant=tenant, actor=SystemActor("tenant-key-rotation"), batch_size=batch_size
    )
    logger.info("tenant %s key rotation: %d subject keys remaining", tenant.pk, remaining)
    if remaining:
        # The next batch goes to the queue this one came from.
        queue = (self.request.delivery_info or {}).get("routing_key")
        self.apply_async(args=[tenant.pk, batch_size], queue=queue)
    return remaining


def collect_orphaned_keys_of(tenant: Tenant, *, older_than: timedelta = ORPHAN_GRACE) -> int:
    """Delete subject keys whose subject row does not exist (a failed write after the key
    was stored, or rows gone in a restore). Keys younger than the grace period are left:
    their row may be being written right now."""
    cutoff = timezone.now() - older_than
    deleted = 0
    with tenant_scope(tenant):
        last_id = None
        while True:
            keys = SubjectKey.objects.filter(created_at__lt=cutoff).order_by("id")
            if last_id is not None:
                keys = keys.filter(id__gt=last_id)
            ids = list(keys.values_list("id", flat=True)[:ORPHAN_BATCH])
            if not ids:
                break
            last_id = ids[-1]
            alive = set(
                DataSubject.objects.filter(id__in=ids, erased_at__isnull=True).values_list(
                    "id", flat=True
                )
            )
            orphans = [key_id for key_id in ids if key_id not in alive]
            if orphans:
                deleted += SubjectKey.objects.filter(id__in=orphans).delete()[0]
    if deleted:
        record_event(
            tenant=tenant,
            actor=SystemActor("orphan-key-collector"),
            action="privacy.orphaned_keys_collected",
            details={"count": deleted},
        )
    return deleted


@shared_task(acks_late=True, ignore_result=True)
def collect_orphaned_subject_keys() -> int:
    """Beat job across tenants: each tenant's keys are handled inside its own scope."""
    total = 0
    for tenant in Tenant.objects.filter(is_active=True).order_by("pk"):
        total += collect_orphaned_keys_of(tenant)
    logger.info("collect_orphaned_subject_keys deleted %d keys", total)
    return total


@shared_task(acks_late=True, ignore_result=True)
def retention_sweep() -> int:
    """Hourly beat job: erase every due subject of every active tenant, each inside its
    scope. A cache lock keeps a second beat or an overlapping run from sweeping at once;
    SKIP LOCKED keeps them correct even without it."""
    lock = "baomi:lock:retention-sweep"
    if not cache.add(lock, "1", timeout=3300):
        logger.info("retention_sweep: another run holds the lock; skipping")
        return 0
    try:
        total = 0
        for tenant in Tenant.objects.filter(is_active=True).order_by("pk"):
            total += sweep_tenant(tenant)
        logger.info("retention_sweep erased %d subjects", total)
        return total
    finally:
        cache.delete(lock)


@shared_task(acks_late=True, ignore_result=True)
def match_erasure_challenge(challenge_id: str) -> bool:
    """Match an online erasure request to a customer and text them a one-time code."""
    # online_erasure queues this task, so it is imported when the task runs, not before.
    from privacy.online_erasure import match_challenge

    return match_challenge(challenge_id)


@shared_task(acks_late=True, ignore_result=True)
def purge_erasure_challenges() -> int:
    """Delete online erasure challenges older than a day (they expire after 10 minutes)."""
    deleted, _ = ErasureChallenge.objects.filter(
        created_at__lt=timezone.now() - timedelta(days=1)
    ).delete()
    return deleted


@shared_task(acks_late=True, ignore_result=True)
def nightly_backup() -> list[str]:
    """Nightly beat job: encrypted backups of the main database and of the key store, then
    pruning. A lock keeps a second beat from backing up at the same time."""
    lock = "baomi:lock:nightly-backup"
    if not cache.add(lock, "1", timeout=6 * 3600):
        logger.info("nightly_backup: another run holds the lock; skipping")
        return []
    try:
        made = [create_backup(kind).id for kind in ("main", "keystore")]
        removed = prune_backups()
        logger.info("nightly_backup wrote %s, pruned %d", ", ".join(made), len(removed))
        return made
    finally:
        cache.delete(lock)
