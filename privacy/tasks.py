"""Vault jobs: resumable subject-key rotation, collection of orphaned subject keys, the
retention sweep, nightly backups and the backup-freshness alert.

Beat jobs have ``base=ScheduledJob``: each runs once per period (tenants/scheduling.py).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from audits.services import record_event
from privacy.backups import BackupError, create_backup, prune_backups, verify_backup
from privacy.erasure import sweep_tenant
from privacy.ledger import reconcile_or_alert
from privacy.models import DataSubject, ErasureChallenge, SubjectKey
from privacy.rotation import rewrap_subject_keys
from tenants.actors import SystemActor
from tenants.models import ScheduledRun, Tenant
from tenants.scheduling import claim_scheduled_run, finish_scheduled_run
from tenants.scoping import tenant_scope
from tenants.tasks import ScheduledJob, TenantTask

logger = logging.getLogger(__name__)

ORPHAN_GRACE = timedelta(hours=1)
ORPHAN_BATCH = 1000
# A failed backup is retried after 120 s, 240 s, ... at most 1800 s: every delay well below
# the Redis broker's visibility timeout (3600 s), which would otherwise deliver the waiting
# message a second time.
BACKUP_RETRY_BASE_SECONDS = 120
BACKUP_RETRY_MAX_SECONDS = 1800
BACKUP_MAX_RETRIES = 5
# The (job, period) under which the overdue-backup alert is claimed once a day.
BACKUP_ALERT_JOB = "privacy.backup_overdue_alert"


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


@shared_task(base=ScheduledJob, acks_late=True, ignore_result=True)
def collect_orphaned_subject_keys() -> int:
    """Beat job across tenants: each tenant's keys are handled inside its own scope."""
    total = 0
    for tenant in Tenant.objects.filter(is_active=True).order_by("pk"):
        total += collect_orphaned_keys_of(tenant)
    logger.info("collect_orphaned_subject_keys deleted %d keys", total)
    return total


@shared_task(base=ScheduledJob, acks_late=True, ignore_result=True)
def retention_sweep() -> int:
    """Hourly beat job: erase every due subject of every active tenant, each inside its
    scope. The period claim stops a second run of the same hour; the cache lock stops the
    next hour's run while a long sweep (a backlog) is still going. SKIP LOCKED keeps
    overlapping sweeps correct even without it."""
    lock = "baomi:lock:retention-sweep"
    if not cache.add(lock, "1", timeout=3300):
        logger.info("retention_sweep: another run holds the lock; skipping")
        return 0
    try:
        # The file ledger first catches up with the database (docs/privacy.md).
        reconcile_or_alert()
        total = 0
        for tenant in Tenant.objects.filter(is_active=True).order_by("pk"):
            total += sweep_tenant(tenant)
        logger.info("retention_sweep erased %d subjects", total)
        return total
    finally:
        cache.delete(lock)


@shared_task(base=ScheduledJob, acks_late=True, ignore_result=True)
def reconcile_erasure_ledger() -> dict[str, int]:
    """Hourly beat job: the file ledger gets every database-ledger entry it lacks, and
    intents whose erasure never committed are finished (privacy/ledger.py)."""
    result = reconcile_or_alert()
    return {"appended": result.appended, "finished": result.finished}


@shared_task(acks_late=True, ignore_result=True)
def match_erasure_challenge(challenge_id: str) -> bool:
    """Match an online erasure request to a customer and text them a one-time code."""
    # online_erasure queues this task, so it is imported when the task runs, not before.
    from privacy.online_erasure import match_challenge

    return match_challenge(challenge_id)


@shared_task(base=ScheduledJob, acks_late=True, ignore_result=True)
def purge_erasure_challenges() -> int:
    """Delete online erasure challenges older than a day (they expire after 10 minutes)."""
    deleted, _ = ErasureChallenge.objects.filter(
        created_at__lt=timezone.now() - timedelta(days=1)
    ).delete()
    return deleted


def backup_retry_delay(retries: int) -> int:
    """Seconds before retry number ``retries + 1`` of a failed backup."""
    return min(BACKUP_RETRY_BASE_SECONDS * 2**retries, BACKUP_RETRY_MAX_SECONDS)


@shared_task(
    base=ScheduledJob,
    bind=True,
    acks_late=True,
    ignore_result=True,
    max_retries=BACKUP_MAX_RETRIES,
    recorded_errors=(BackupError, OSError),
)
def nightly_backup(self: ScheduledJob) -> dict[str, Any]:
    """Nightly beat job: encrypted backups of the main database and of the key store, each
    verified after it is written, then pruning. A failure is retried with backoff; the
    ScheduledRun of the night records the backups, "verified", or the errors."""
    try:
        made = [create_backup(kind) for kind in ("main", "keystore")]
        for manifest in made:
            verify_backup(manifest)
    except (BackupError, OSError) as error:
        delay = backup_retry_delay(self.request.retries)
        logger.warning(
            "nightly_backup failed (%s); retry %d in %d s",
            type(error).__name__,
            self.request.retries + 1,
            delay,
        )
        raise self.retry(exc=error, countdown=delay) from error
    detail: dict[str, Any] = {"backups": [f"{m.id}.{m.kind}" for m in made], "verified": True}
    try:
        detail["pruned"] = prune_backups()
    except (BackupError, OSError) as error:  # the night's backups are made and verified
        logger.warning("nightly_backup: pruning failed (%s)", type(error).__name__)
        detail["prune_error"] = f"{type(error).__name__}: {error}"[:500]
    logger.info("nightly_backup wrote and verified %s", ", ".join(detail["backups"]))
    return detail


def last_verified_backup() -> datetime | None:
    """When the last nightly backup run finished with its backups verified."""
    return (
        ScheduledRun.objects.filter(
            job=nightly_backup.name, status=ScheduledRun.Status.DONE, detail__verified=True
        )
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )


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
        tenants = list(Tenant.objects.filter(is_active=True).order_by("pk"))
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


@shared_task(base=ScheduledJob, bind=True, acks_late=True, ignore_result=True)
def check_backup_freshness(self: ScheduledJob) -> dict[str, Any]:
    """Hourly beat job: prune (so key-store backups never outlive their retention by more
    than an hour), then alert when the last verified backup is overdue."""
    pruned = prune_backups()
    alerted = alert_if_backups_overdue(
        now=timezone.now(), task_id=self.request.id or str(uuid.uuid4())
    )
    return {"pruned": pruned, "alerted_tenants": len(alerted)}
