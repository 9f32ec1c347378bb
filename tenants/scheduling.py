"""Each scheduled job once per period.

The beat (``config.beat.LeaderScheduler``) sends every job with a ``period`` keyword: the
start of the period it belongs to, in whole epoch seconds, computed by the beat when it
sends (floor(send time / run_every) * run_every), so a worker's clock can neither split
nor merge periods. ``tenants.tasks.ScheduledJob``, the base of every beat job, claims the
(job, period) row of ``ScheduledRun`` in its own transaction before the body runs:

- no row yet: this execution owns the period and runs;
- a row of another task id: another execution owns the period; this one is a no-op;
- a row of the same task id: a redelivery (``acks_late`` after a lost worker) or a retry
  of this very execution, which goes on, unless that execution already finished.

The body's return value (a dict, or any JSON value as ``{"result": ...}``) becomes the
row's ``detail`` when it is marked done. A job called without a period (an operator's
``delay()``) is recorded under the worker's time of the call, as its own period.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from tenants.models import ScheduledRun

PERIOD_KWARG = "period"


def period_start(epoch_seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch_seconds, tz=dt.UTC)


def claim_scheduled_run(*, job: str, period: dt.datetime, task_id: str) -> ScheduledRun | None:
    """Claim ``job``'s ``period`` for the execution ``task_id``; None when it is not ours
    (another execution owns the period, or this one already finished it)."""
    now = timezone.now()
    with transaction.atomic():
        run, created = ScheduledRun.objects.get_or_create(
            job=job,
            period=period,
            defaults={"task_id": task_id, "status": ScheduledRun.Status.RUNNING, "started_at": now},
        )
        if created:
            return run
        if run.task_id != task_id:
            return None
        if run.status not in (ScheduledRun.Status.RUNNING, ScheduledRun.Status.RETRYING):
            # Redelivered after it finished (the worker died before the ack): nothing to do.
            return None
        ScheduledRun.objects.filter(pk=run.pk).update(
            status=ScheduledRun.Status.RUNNING, attempts=F("attempts") + 1
        )
        run.refresh_from_db()
        return run


def finish_scheduled_run(
    run: ScheduledRun, *, status: str, detail: dict[str, Any] | None = None
) -> None:
    """Mark ``run`` done or failed (or waiting to retry), merging ``detail`` into its own."""
    run.status = status
    run.detail = {**run.detail, **(detail or {})}
    if status in (ScheduledRun.Status.DONE, ScheduledRun.Status.FAILED):
        run.finished_at = timezone.now()
    run.save(update_fields=["status", "detail", "finished_at"])
