"""Celery's side of tenancy: ``TenantTask`` and the platform housekeeping job."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.contrib.sessions.models import Session
from django.utils import timezone

from tenants.models import Tenant
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
        with tenant_scope(tenant):
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


@shared_task(acks_late=True, ignore_result=True)
def clear_expired_sessions() -> int:
    """Delete expired sessions (platform housekeeping; sessions belong to no tenant)."""
    removed, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    logger.info("clear_expired_sessions removed %d expired sessions", removed)
    return removed
