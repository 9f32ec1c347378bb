"""The vault's periodic upkeep, the bodies of its beat jobs (privacy/tasks.py): collecting
orphaned subject keys, the retention sweep, purging old erasure challenges, and the alert
when backups are overdue. The backups themselves are in privacy/backups.py."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from audits.services import record_event
from privacy.backups import prune_backups
from privacy.ledger import reconcile_or_alert
from privacy.models import DataSubject, ErasureChallenge, SubjectKey
from privacy.retention import sweep_tenant
from privacy.selectors import last_verified_backup
from tenants.actors import SystemActor
from tenants.models import ScheduledRun, Tenant
from tenants.scheduling import claim_scheduled_run, finish_scheduled_run
from tenants.scoping import tenant_scope
from tenants.selectors import iter_tenants

logger = logging.getLogger(__name__)

ORPHAN_GRACE = timedelta(hours=1)
ORPHAN_BATCH = 1000
RETENTION_SWEEP_LOCK = "baomi:lock:retention-sweep"
# The (job, period) under which the overdue-backup alert is claimed once a day.
BACKUP_ALERT_JOB = "privacy.backup_overdue_alert"


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


def collect_orphaned_keys() -> int:
    """Every active tenant's orphaned keys, each tenant inside its own scope."""
    total = 0
    for tenant in iter_tenants(active_only=True):
        total += collect_orphaned_keys_of(tenant)
    logger.info("collect_orphaned_subject_keys deleted %d keys", total)
    return total


def sweep_retention() -> int:
    """Erase every due subject of every active tenant, each inside its scope. The caller's
    period claim stops a second run of the same hour; the cache lock stops the next hour's
    run while a long sweep (a backlog) is still going. SKIP LOCKED keeps overlapping sweeps
    correct even without it."""
    if not cache.add(RETENTION_SWEEP_LOCK, "1", timeout=3300):
        logger.info("retention_sweep: another run holds the lock; skipping")
        return 0
    try:
        # The file ledger first catches up with the database (docs/privacy.md): from the
        # last reconcile's checkpoint on; the hourly reconcile job reads it all.
        reconcile_or_alert(incremental=True)
        total = 0
        for tenant in iter_tenants(active_only=True):
            total += sweep_tenant(tenant)
        logger.info("retention_sweep erased %d subjects", total)
        return total
    finally:
        cache.delete(RETENTION_SWEEP_LOCK)


def purge_erasure_challenges() -> int:
    """Delete online erasure challenges older than a day (they expire after 10 minutes)."""
    deleted, _ = ErasureChallenge.objects.filter(
        created_at__lt=timezone.now() - timedelta(days=1)
    ).delete()
    return deleted


def alert_if_backups_overdue(*, now: datetime, task_id: str) -> list[int]:
    """When no verified nightly backup finished within BAOMI_BACKUP_ALERT_HOURS, record
    ``privacy.backup_overdue`` in every active tenant's log, at most once per local day
    (the day's (job, period) claim). Returns the ids of the tenants alerted.

    Before the first backup, the clock starts with the first scheduled run ever recorded:
    a new deployment is not overdue before its first night has passed.
    """
    last = last_verified_backup()
    since = (
        last
        or ScheduledRun.objects.order_by("started_at").values_list("started_at", flat=True).first()
    )
    if since is None or now - since <= timedelta(hours=settings.BAOMI_BACKUP_ALERT_HOURS):
        return []
    day = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    with transaction.atomic():
        run = claim_scheduled_run(job=BACKUP_ALERT_JOB, period=day, task_id=task_id)
        if run is None:
            return []
        details = {
            "last_verified": last.isoformat() if last else None,
            "hours": int((now - since) / timedelta(hours=1)),
        }
        tenants = list(iter_tenants(active_only=True))
        for tenant in tenants:
            record_event(
                tenant=tenant,
                actor=SystemActor("backup-monitor"),
                action="privacy.backup_overdue",
                details=details,
            )
        finish_scheduled_run(
            run, status=ScheduledRun.Status.DONE, detail={**details, "tenants": len(tenants)}
        )
    logger.warning(
        "backups overdue (%d h): alert recorded in %d tenants", details["hours"], len(tenants)
    )
    return [tenant.pk for tenant in tenants]


def check_backup_freshness(*, task_id: str) -> dict[str, Any]:
    """Prune (so key-store backups never outlive their retention by more than an hour),
    then alert when the last verified backup is overdue."""
    pruned = prune_backups()
    alerted = alert_if_backups_overdue(now=timezone.now(), task_id=task_id)
    return {"pruned": pruned, "alerted_tenants": len(alerted)}
