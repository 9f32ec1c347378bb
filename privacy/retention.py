"""Retention: how long a tenant keeps a finished order's customer (its policy, set by an
administrator or the privacy officer, audited), and the sweep that erases every customer
whose last order finished before the cutoff, in batches (``privacy.erasure``), safe to rerun
and to run twice at once."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections, router, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.services import record_event
from privacy.erasure import SWEEP_BATCH, erase_subjects
from privacy.models import (
    DataSubject,
    ErasureReason,
    RetentionPolicy,
)
from privacy.registry import retention_sources
from privacy.selectors import retention_days
from tenants.actors import Actor, SystemActor, actor_label
from tenants.models import Role, Tenant, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope


def set_retention_days(*, tenant: Tenant, days: int, actor: Actor) -> RetentionPolicy:
    if isinstance(actor, User) and (
        actor.tenant_id != tenant.pk or not has_role(actor, Role.TENANT_ADMIN, Role.PRIVACY_OFFICER)
    ):
        raise PermissionDenied(_("Only a tenant administrator or privacy officer sets retention."))
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 365:
        raise ValidationError({"days": _("Between 0 and 365 days.")})
    with transaction.atomic(), tenant_scope(tenant):
        policy, _created = RetentionPolicy.objects.get_or_create(
            tenant=tenant, defaults={"days": days, "updated_by": actor_label(actor)}
        )
        policy.days, policy.updated_by = days, actor_label(actor)
        policy.save()
        record_event(
            tenant=tenant,
            actor=actor,
            action="privacy.retention_set",
            target=policy,
            details={"days": days},
        )
    return policy


def retention_cutoff(tenant: Tenant, now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(days=retention_days(tenant))


def sweep_tenant(
    tenant: Tenant,
    *,
    actor: Actor | None = None,
    batch_size: int = SWEEP_BATCH,
    workers: int | None = None,
) -> int:
    """Erase every due subject of ``tenant`` in batches; safe to rerun and to run twice at
    once (rows locked by the other run are skipped, and it erases them).

    Each source is walked once in id order (keyset pages), so a batch never re-reads the
    subjects erased by the batches before it. On PostgreSQL, outside a caller's
    transaction, ``workers`` threads (``RETENTION_SWEEP_WORKERS``, default 2) erase the
    batches, each in its own transactions on its own connections, while this thread finds
    the next ones: one batch's statements run in the database while another's events and
    ledger lines are built here (docs/benchmarks.md). Batches never share a subject, and
    each is the same all-or-nothing erasure as alone. The first batch that fails stops the
    sweep (no new batch starts; those running finish) and its error is raised here.
    """
    actor = actor or SystemActor("retention-sweep")
    cutoff = retention_cutoff(tenant)

    def erase(batch: list[UUID]) -> set[UUID]:
        return set(
            erase_subjects(
                tenant=tenant,
                subject_ids=batch,
                reason=ErasureReason.RETENTION,
                actor=actor,
                skip_locked=True,
                materialise=False,
            )
        )

    workers = settings.RETENTION_SWEEP_WORKERS if workers is None else workers
    connection = connections[router.db_for_write(DataSubject)]
    batches = _due_batches(tenant, cutoff, batch_size)
    if workers < 2 or connection.vendor != "postgresql" or connection.in_atomic_block:
        # A caller's transaction (tests, a caller that erases with other work) is this
        # thread's alone: other connections would not see its rows.
        erased: set[UUID] = set()
        for batch in batches:
            erased |= erase(batch)
        return len(erased)
    return len(_erase_in_threads(batches, erase, workers))


def _due_batches(tenant: Tenant, cutoff: datetime, batch_size: int) -> Iterator[list[UUID]]:
    """The due subjects in batches, every source walked once in id order; a subject a
    source gave before is not given again."""
    seen: set[UUID] = set()
    for source in retention_sources():
        after: UUID | None = None
        while True:
            with tenant_scope(tenant):
                page = list(source(tenant, cutoff, after).order_by("pk")[:batch_size])
            if not page:
                break
            after = page[-1]
            batch = [s for s in page if s not in seen]
            seen.update(batch)
            if batch:
                yield batch


_DONE = None


def _erase_in_threads(
    batches: Iterator[list[UUID]], erase: Callable[[list[UUID]], set[UUID]], workers: int
) -> set[UUID]:
    """Hand ``batches`` to ``workers`` threads (at most one waiting per thread, so a large
    sweep never holds more than a few batches of ids); the subjects erased, or the first
    error once every thread has stopped."""
    work: queue.Queue[list[UUID] | None] = queue.Queue(maxsize=workers)
    erased: set[UUID] = set()
    errors: list[BaseException] = []
    guard = threading.Lock()

    def run() -> None:
        try:
            while (batch := work.get()) is not _DONE:
                if errors:
                    continue  # drain: a batch failed, no other starts
                try:
                    done = erase(batch)
                except BaseException as error:  # noqa: BLE001 - handed to the sweep's thread
                    with guard:
                        errors.append(error)
                    continue
                with guard:
                    erased.update(done)
        finally:
            connections.close_all()  # this thread's own connections

    threads = [
        threading.Thread(target=run, name=f"retention-sweep-{n}", daemon=True)
        for n in range(workers)
    ]
    for thread in threads:
        thread.start()
    try:
        for batch in batches:
            if errors:
                break
            work.put(batch)
    finally:
        for _thread in threads:
            work.put(_DONE)
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return erased
