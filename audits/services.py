"""Appending to the audit log: the one write every app makes for what matters."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connections, models, router, transaction
from django.utils import timezone

from audits.chain import CHAINED_FIELDS, event_hash
from audits.context import current_request_context
from audits.models import AuditChainHead, AuditEvent
from tenants.actors import Actor, actor_label
from tenants.bulk import COPY_THRESHOLD, append_rows, insert_rows
from tenants.models import Tenant
from tenants.scoping import tenant_scope


def object_label(obj: models.Model) -> tuple[str, str]:
    """("app_label.model", "pk") for an event's object."""
    return obj._meta.label_lower, str(obj.pk)


def _normalised_ip(ip: str | None) -> str | None:
    # Stored as the database gives it back (PostgreSQL's inet prints the compressed form),
    # so the chained value is the same when verified.
    if not ip:
        return None
    try:
        return ipaddress.ip_address(ip).compressed
    except ValueError:
        return None


# The append runs on every audited action, so it speaks SQL directly (lock the head; insert
# the events and move the head, one round trip on PostgreSQL), explicitly filtered by
# tenant inside the caller's tenant scope, instead of paying the ORM's query building.
_EVENT_FIELDS = ("tenant", *CHAINED_FIELDS[1:], "hash")


def _head_sql(connection: Any) -> tuple[str, str]:
    quote, meta = connection.ops.quote_name, AuditChainHead._meta
    table, tenant = quote(meta.db_table), quote(meta.get_field("tenant").column)
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    select = f"SELECT sequence, hash FROM {table} WHERE {tenant} = %s{lock}"  # noqa: S608
    update = f"UPDATE {table} SET sequence = %s, hash = %s WHERE {tenant} = %s"  # noqa: S608
    return select, update


def _locked_head(tenant: Tenant, cursor: Any, select: str) -> tuple[int, str]:
    """The tenant's (sequence, hash), its row locked until the transaction ends."""
    cursor.execute(select, [tenant.pk])
    row = cursor.fetchone()
    if row is not None:
        return int(row[0]), str(row[1])
    try:
        # The first event of a tenant: two writers may race to create the head; the unique
        # constraint lets one win and the other lock the winner's row.
        with transaction.atomic():
            AuditChainHead(tenant=tenant).save()
    except IntegrityError:
        pass
    cursor.execute(select, [tenant.pk])
    row = cursor.fetchone()
    return int(row[0]), str(row[1])


@dataclass(frozen=True)
class Event:
    """One event to append with ``record_events`` (same meaning as ``record_event``'s
    arguments). ``actor`` overrides the batch's actor; ``row`` is the instance to fill."""

    action: str
    target: models.Model | None = None
    object_type: str = ""
    object_id: str = ""
    fields: Iterable[str] = ()
    purpose: str = ""
    details: Mapping[str, Any] | None = None
    actor: Actor | None = None
    row: AuditEvent | None = None


@dataclass
class EventBatch:
    """What ``batched_events`` collects: the events, and chain heads the caller already
    locked in its own statements (``head_lock_sql``)."""

    pending: list[tuple[Tenant, Event]]
    heads: dict[int, tuple[int, str]]

    def head_locked(self, tenant: Tenant, sequence: int, hash_: str) -> None:
        """The caller's statement locked ``tenant``'s chain head and read these values in
        this transaction: the append at the end of the block need not lock it again."""
        self.heads[tenant.pk] = (sequence, hash_)


_batch: ContextVar[EventBatch | None] = ContextVar("audit_batch", default=None)


def head_lock_sql(tenant: Tenant) -> tuple[str, list[Any]]:
    """SELECT (sequence, hash) of ``tenant``'s chain head FOR UPDATE, for a caller to run
    inside one of its own statements and hand over with ``EventBatch.head_locked``."""
    select, _update = _head_sql(connections[router.db_for_write(AuditEvent)])
    return select, [tenant.pk]


@contextmanager
def batched_events() -> Iterator[EventBatch]:
    """Collect the ``record_event`` calls made inside and append them together when the
    block ends: one lock of each tenant's chain head for a use case that records several
    events (intake). Use it inside the transaction the events describe; if the block
    raises, nothing is appended (the transaction rolls back anyway). Events returned
    inside the block get their sequence, hash and id when it ends. Nested blocks join
    the outermost.
    """
    outer = _batch.get()
    if outer is not None:
        yield outer
        return
    batch = EventBatch(pending=[], heads={})
    token = _batch.set(batch)
    try:
        yield batch
    finally:
        _batch.reset(token)
    pending = batch.pending
    while pending:
        tenant = pending[0][0]
        mine = [event for owner, event in pending if owner.pk == tenant.pk]
        pending = [(owner, event) for owner, event in pending if owner.pk != tenant.pk]
        record_events(
            tenant=tenant,
            actor=mine[0].actor,  # type: ignore[arg-type]
            events=mine,
            locked_head=batch.heads.get(tenant.pk),
        )


def record_events(
    *,
    tenant: Tenant,
    actor: Actor,
    events: Sequence[Event],
    locked_head: tuple[int, str] | None = None,
) -> list[AuditEvent]:
    """Append ``events`` to ``tenant``'s chain, in order, under one lock of the chain head:
    two round trips whatever their number (a batch erasure, an intake's events). Events
    of a large batch come back without database ids (``tenants.bulk.append_rows``).

    Runs in the caller's transaction (no savepoint of its own: if the append fails, the
    caller's transaction fails with it), so an event describes only what was committed
    with it. ``details`` must hold ids and labels, never personal data.
    """
    if not events:
        return []
    context = current_request_context()
    label, ip, now = actor_label(actor), _normalised_ip(context.ip), timezone.now()
    labels = {id(spec.actor): actor_label(spec.actor) for spec in events if spec.actor is not None}
    connection = connections[router.db_for_write(AuditEvent)]
    select, update = _head_sql(connection)
    with (
        tenant_scope(tenant),
        transaction.atomic(using=connection.alias, savepoint=False),
        connection.cursor() as cursor,
    ):
        # A head the caller locked in this transaction (EventBatch.head_locked) is still
        # ours; a wrong one could not fork the chain: (tenant, sequence) is unique.
        sequence, previous = locked_head or _locked_head(tenant, cursor, select)
        rows: list[AuditEvent] = []
        for spec in events:
            object_type, object_id = spec.object_type, str(spec.object_id)
            if spec.target is not None:
                object_type, object_id = object_label(spec.target)
            sequence += 1
            values: dict[str, Any] = {
                "tenant_id": tenant.pk,
                "sequence": sequence,
                "occurred_at": now,
                "actor": labels[id(spec.actor)] if spec.actor is not None else label,
                "action": spec.action,
                "object_type": object_type,
                "object_id": object_id,
                "fields": sorted(spec.fields),
                "purpose": spec.purpose,
                "request_id": context.request_id,
                "ip": ip,
                "details": dict(spec.details or {}),
                "prev_hash": previous,
            }
            previous = event_hash(values)
            row = spec.row if spec.row is not None else AuditEvent()
            for name, value in values.items():
                setattr(row, name, value)
            row.hash = previous
            rows.append(row)
        move_head: tuple[str, list[Any]] = (update, [sequence, previous, tenant.pk])
        if len(rows) < COPY_THRESHOLD:
            insert_rows(AuditEvent, rows, _EVENT_FIELDS, along=move_head)  # one round trip
        else:
            append_rows(AuditEvent, rows, _EVENT_FIELDS)
            cursor.execute(*move_head)
    return rows


def record_event(
    *,
    tenant: Tenant,
    actor: Actor,
    action: str,
    target: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    fields: Iterable[str] = (),
    purpose: str = "",
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to ``tenant``'s chain and return it (see ``record_events``); inside
    ``batched_events`` the event is appended when the block ends."""
    event = Event(
        action=action,
        target=target,
        object_type=object_type,
        object_id=object_id,
        fields=fields,
        purpose=purpose,
        details=details,
        actor=actor,
        row=AuditEvent(tenant=tenant),
    )
    batch = _batch.get()
    if batch is not None:
        batch.pending.append((tenant, event))
        return event.row  # type: ignore[return-value]
    (row,) = record_events(tenant=tenant, actor=actor, events=[event])
    return row
