"""Vault jobs: resumable subject-key rotation, collection of orphaned subject keys, the
retention sweep, nightly backups and the backup-freshness alert.

Thin: each job takes ids, makes one service call (privacy/housekeeping.py,
privacy/backups.py, privacy/rotation.py, privacy/ledger.py, privacy/online_erasure.py) and
owns only its retry policy. Beat jobs have ``base=ScheduledJob``: each runs once per period
(tenants/scheduling.py).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from celery import shared_task

from privacy import housekeeping
from privacy.backups import (
    BACKUP_MAX_RETRIES,
    BackupError,
    backup_retry_delay,
    make_nightly_backups,
)
from privacy.ledger import reconcile_or_alert
from privacy.rotation import rewrap_subject_keys
from privacy.selectors import NIGHTLY_BACKUP_JOB
from tenants.actors import SystemActor
from tenants.models import Tenant
from tenants.tasks import ScheduledJob, TenantTask

logger = logging.getLogger(__name__)


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


@shared_task(base=ScheduledJob, acks_late=True, ignore_result=True)
def collect_orphaned_subject_keys() -> int:
    """Beat job across tenants: each tenant's keys are handled inside its own scope."""
    return housekeeping.collect_orphaned_keys()


@shared_task(base=ScheduledJob, acks_late=True, ignore_result=True)
def retention_sweep() -> int:
    """Hourly beat job: erase every due subject of every active tenant."""
    return housekeeping.sweep_retention()


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
    return housekeeping.purge_erasure_challenges()


@shared_task(
    name=NIGHTLY_BACKUP_JOB,
    base=ScheduledJob,
    bind=True,
    acks_late=True,
    ignore_result=True,
    max_retries=BACKUP_MAX_RETRIES,
    recorded_errors=(BackupError, OSError),
)
def nightly_backup(self: ScheduledJob) -> dict[str, Any]:
    """Nightly beat job: verified encrypted backups of both databases, then pruning. A
    failure is retried with backoff; the ScheduledRun of the night records the backups,
    "verified", or the errors."""
    try:
        return make_nightly_backups()
    except (BackupError, OSError) as error:
        delay = backup_retry_delay(self.request.retries)
        logger.warning(
            "nightly_backup failed (%s); retry %d in %d s",
            type(error).__name__,
            self.request.retries + 1,
            delay,
        )
        raise self.retry(exc=error, countdown=delay) from error


@shared_task(base=ScheduledJob, bind=True, acks_late=True, ignore_result=True)
def check_backup_freshness(self: ScheduledJob) -> dict[str, Any]:
    """Hourly beat job: prune, then alert when the last verified backup is overdue."""
    return housekeeping.check_backup_freshness(task_id=self.request.id or str(uuid.uuid4()))
