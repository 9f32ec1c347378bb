"""Celery's side of tenancy: ``TenantTask``, ``ScheduledJob`` (each beat job once per
period) and the platform housekeeping job."""

from __future__ import annotations

import inspect
import logging
import uuid
from typing import Any

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from celery.exceptions import Retry
from django.contrib.sessions.models import Session
from django.utils import timezone

from tenants.models import ScheduledRun, Tenant
from tenants.scheduling import (
    PERIOD_KWARG,
    claim_scheduled_run,
    finish_scheduled_run,
    period_start,
)
from tenants.scoping import tenant_scope

logger = logging.getLogger(__name__)


def check_id_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Task arguments are ids (ints, UUIDs) and flags, never values that could be personal.

    A broker, its logs and a worker's crash reports all see task arguments.
    """
    for position, value in [*enumerate(args), *kwargs.items()]:
        if value is None or isinstance(value, bool | int | uuid.UUID):
            continue
        if isinstance(value, str):
            try:
                uuid.UUID(value)
                continue
            except ValueError:
                pass
        raise TypeError(
            f"Celery task argument {position!r} is a {type(value).__name__}; pass ids "
            "(int or UUID) only, never values."
        )


class TenantTask(DjangoTask):
    """Base of every task that works on one tenant's data.

    The first argument is the tenant's id; the body runs inside that tenant's scope and
    receives the ``Tenant`` in its place::

        @shared_task(base=TenantTask)
        def notify_customer(tenant: Tenant, order_id: int) -> None: ...

        notify_customer.delay_on_commit(order.tenant_id, order.pk)

    Queue from services with ``delay_on_commit`` so a worker never sees a row that the
    transaction has not committed (or rolled back). Arguments are checked to be ids.
    """

    abstract = True
    acks_late = True

    def __call__(self, tenant_id: int, *args: Any, **kwargs: Any) -> Any:
        tenant = Tenant.objects.get(pk=tenant_id)
        if not tenant.is_active:
            logger.warning("task %s skipped: tenant %s is deactivated", self.name, tenant_id)
            return None
        # The tenant's time zone too: a time the task writes into a text is the tenant's.
        with tenant_scope(tenant), timezone.override(tenant.zone):
            if self.request.id is not None:
                # On a worker (or apply()): the tracer has pushed the real request, whose
                # args still hold the tenant's id, so retry() re-sends ids, not a Tenant.
                return self.run(tenant, *args, **kwargs)
            return super().__call__(tenant, *args, **kwargs)  # called directly

    def apply_async(self, args: Any = None, kwargs: Any = None, *rest: Any, **options: Any) -> Any:
        call_args = tuple(args or ())
        if not call_args or isinstance(call_args[0], bool) or not isinstance(call_args[0], int):
            raise TypeError(f"{self.name}: the first argument must be the tenant's id (an int).")
        check_id_arguments(call_args, dict(kwargs or {}))
        return super().apply_async(args, kwargs, *rest, **options)


def _as_detail(result: Any) -> dict[str, Any]:
    if isinstance(result, dict):
        return result
    return {} if result is None else {"result": result}


class ScheduledJob(DjangoTask):
    """Base of every beat job: one execution per (job, period), recorded in ScheduledRun.

    Failures are recorded by exception type; the message too only for the job's
    ``recorded_errors``, errors of our own whose messages name files and databases, never
    personal data. An interrupted execution (worker shutdown, SIGKILL) stays ``running``,
    so its redelivery goes on.
    """

    abstract = True
    acks_late = True
    # The beat (config.beat.LeaderScheduler) sends a period only to tasks that claim one.
    claims_periods = True
    # Celery checks arguments against the body's signature, which has no ``period``:
    # apply_async checks them itself, without it.
    typing = False
    recorded_errors: tuple[type[BaseException], ...] = ()

    def fan_out(self, task: Any, *args: Any) -> int:
        """Queue ``task`` once per active tenant — its id first, then ``args`` (ids and
        numbers only) — on the queue this job came from; the number queued. The body of
        most beat jobs: one tenant's work per task."""
        from tenants.selectors import iter_tenants

        queue = (self.request.delivery_info or {}).get("routing_key")
        count = 0
        for tenant in iter_tenants(active_only=True):
            task.apply_async(args=[tenant.pk, *args], queue=queue)
            count += 1
        return count

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        period_seconds = kwargs.pop(PERIOD_KWARG, None)
        task_id = self.request.id
        if task_id is None:  # called directly as a function: no claim, no record
            return super().__call__(*args, **kwargs)
        if period_seconds is None:
            period, manual = timezone.now(), True
        else:
            period, manual = period_start(int(period_seconds)), False
        run = claim_scheduled_run(job=self.name, period=period, task_id=task_id)
        if run is None:
            logger.info(
                "%s: period %s is another execution's or done; skipping (task %s)",
                self.name,
                period.isoformat(),
                task_id,
            )
            return None
        try:
            result = self.run(*args, **kwargs)
        except Retry as retry:
            after = retry.when if isinstance(retry.when, int | float) else str(retry.when)
            note = {"after": after, **self._error_note(retry.exc)}
            retries = [*run.detail.get("retries", []), note]
            finish_scheduled_run(
                run, status=ScheduledRun.Status.RETRYING, detail={"retries": retries}
            )
            raise
        except Exception as error:
            finish_scheduled_run(
                run, status=ScheduledRun.Status.FAILED, detail=self._error_note(error)
            )
            raise
        detail = _as_detail(result)
        if manual:
            detail["manual"] = True
        finish_scheduled_run(run, status=ScheduledRun.Status.DONE, detail=detail)
        return result

    def apply_async(self, args: Any = None, kwargs: Any = None, *rest: Any, **options: Any) -> Any:
        call_args, call_kwargs = tuple(args or ()), dict(kwargs or {})
        check_id_arguments(call_args, call_kwargs)
        call_kwargs.pop(PERIOD_KWARG, None)
        inspect.signature(self.run).bind(*call_args, **call_kwargs)  # TypeError if they do not fit
        return super().apply_async(args, kwargs, *rest, **options)

    def _error_note(self, error: BaseException | None) -> dict[str, Any]:
        if error is None:
            return {}
        if isinstance(error, self.recorded_errors):
            return {"error": f"{type(error).__name__}: {error}"[:500]}
        return {"error": type(error).__name__}


@shared_task(base=ScheduledJob, acks_late=True, ignore_result=True)
def clear_expired_sessions() -> int:
    """Delete expired sessions (platform housekeeping; sessions belong to no tenant)."""
    removed, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    logger.info("clear_expired_sessions removed %d expired sessions", removed)
    return removed


@shared_task(base=TenantTask, bind=True, acks_late=True, ignore_result=True, max_retries=None)
def deliver_notification(self: TenantTask, tenant: Tenant, notification_id: int) -> bool:
    """Send one back-office notification by the tenant's channel (e-mail, webhook);
    retried with a doubling backoff (``BAOMI_NOTIFICATION_RETRY_SECONDS``, at most
    ``BAOMI_NOTIFICATION_RETRIES`` times) when the channel fails."""
    from django.conf import settings

    from tenants.notifications import DeliveryFailed, deliver

    try:
        return deliver(tenant, notification_id)
    except DeliveryFailed as error:
        retries = self.request.retries
        if retries >= settings.BAOMI_NOTIFICATION_RETRIES:
            logger.error(
                "notification %s of tenant %s not delivered: %s (gave up after %s attempts)",
                notification_id,
                tenant.pk,
                error,
                retries + 1,
            )
            return False
        countdown = settings.BAOMI_NOTIFICATION_RETRY_SECONDS * 2**retries
        logger.warning(
            "notification %s of tenant %s: %s; retrying in %ss",
            notification_id,
            tenant.pk,
            error,
            countdown,
        )
        raise self.retry(countdown=countdown) from None
