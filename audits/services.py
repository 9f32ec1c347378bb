"""Appending to the audit log: the one write every app makes for what matters."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, cast, overload

from django.db import IntegrityError, connections, models, router, transaction
from django.utils import timezone

from audits.chain import CHAINED_FIELDS, event_hash, payload_parts
from audits.context import current_request_context
from audits.models import CHAIN_STRIPES, AuditChainHead, AuditEvent, stripe_genesis
from core.audit_registry import writable_action
from tenants.actors import Actor, actor_label
from tenants.bulk import COPY_THRESHOLD, append_rows, copy_values, hot_cursor, insert_rows
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


# The append runs on every audited action, so it speaks SQL directly (take a chain head;
# insert the events and move the head, one round trip on PostgreSQL), explicitly filtered
# by tenant inside the caller's tenant scope, instead of paying the ORM's query building.
#
# Decision 0019: a tenant's log is CHAIN_STRIPES chains. An append takes the first stripe
# head no other transaction holds (SKIP LOCKED; a head this transaction already holds
# counts as free, so one transaction never waits while it holds a stripe, and never holds
# two unless another released the first meanwhile) and keeps it until the commit, as
# before; only when every stripe is taken does it wait, on one chosen at random.
_EVENT_FIELDS = ("tenant", "stripe", *CHAINED_FIELDS[1:], "hash")


def _head_sql(connection: Any) -> tuple[str, str, str]:
    """The statements: take a free head, wait for any head, move a head."""
    quote, meta = connection.ops.quote_name, AuditChainHead._meta
    table, tenant = quote(meta.db_table), quote(meta.get_field("tenant").column)
    base = f"SELECT stripe, sequence, hash FROM {table} WHERE {tenant} = %s"  # noqa: S608
    if connection.features.has_select_for_update_skip_locked:
        free = f"{base} ORDER BY stripe LIMIT 1 FOR UPDATE SKIP LOCKED"
        wait = f"{base} ORDER BY random() LIMIT 1 FOR UPDATE"
    else:  # SQLite: one writer at a time anyway
        free = wait = f"{base} ORDER BY stripe LIMIT 1"
    update = (
        f"UPDATE {table} SET sequence = %s, hash = %s "  # noqa: S608
        f"WHERE {tenant} = %s AND stripe = %s"
    )
    return free, wait, update


def _locked_head(tenant: Tenant, cursor: Any, free: str, wait: str) -> tuple[int, int, str]:
    """A stripe of the tenant's chain, (stripe, sequence, hash), its head locked until the
    transaction ends."""
    cursor.execute(free, [tenant.pk])
    row = cursor.fetchone()
    if row is None:
        cursor.execute(wait, [tenant.pk])  # every stripe is taken (or none exists yet)
        row = cursor.fetchone()
    if row is None:  # the tenant's first event
        ensure_chain_head(tenant)
        cursor.execute(free, [tenant.pk])
        row = cursor.fetchone()
        if row is None:
            cursor.execute(wait, [tenant.pk])
            row = cursor.fetchone()
    return int(row[0]), int(row[1]), str(row[2])


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
    """What ``batched_events`` collects: the events, with the tenant of each."""

    pending: list[tuple[Tenant, Event]]


_batch: ContextVar[EventBatch | None] = ContextVar("audit_batch", default=None)


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
    batch = EventBatch(pending=[])
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
        record_events(tenant=tenant, actor=mine[0].actor, events=mine)  # type: ignore[arg-type]


def _event_values(
    tenant: Tenant, actor: Actor, events: Sequence[Event], *, instances: bool = True
) -> list[tuple[AuditEvent | None, dict[str, Any]]]:
    """Each event's row to fill (``None`` without ``instances``) and its chained values,
    ``sequence`` and ``prev_hash``
    left for the append to set. Refuses (``core.audit_registry.AuditActionError``) an action
    that is not registered, or legacy, and a ``details`` key the action does not declare:
    every path that appends builds its events here."""
    context = current_request_context()
    label, ip, now = actor_label(actor), _normalised_ip(context.ip), timezone.now()
    labels = {id(spec.actor): actor_label(spec.actor) for spec in events if spec.actor is not None}
    out = []
    for spec in events:
        writable_action(spec.action, spec.details)
        object_type, object_id = spec.object_type, str(spec.object_id)
        if spec.target is not None:
            object_type, object_id = object_label(spec.target)
        values: dict[str, Any] = {
            "tenant_id": tenant.pk,
            "stripe": None,
            "sequence": None,
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
            "prev_hash": None,
        }
        row = spec.row if spec.row is not None or not instances else AuditEvent()
        out.append((row, values))
    return out


def _fill(row: AuditEvent, values: dict[str, Any]) -> AuditEvent:
    for name, value in values.items():
        setattr(row, name, value)
    return row


@overload
def record_events(
    *, tenant: Tenant, actor: Actor, events: Sequence[Event], instances: Literal[True] = ...
) -> list[AuditEvent]: ...


@overload
def record_events(
    *, tenant: Tenant, actor: Actor, events: Sequence[Event], instances: Literal[False]
) -> None: ...


def record_events(
    *, tenant: Tenant, actor: Actor, events: Sequence[Event], instances: bool = True
) -> list[AuditEvent] | None:
    """Append ``events`` to one stripe of ``tenant``'s chain, in order, under one lock of
    that stripe's head (decision 0019): two or three round trips whatever their number (a
    batch erasure, an intake's events). Events of a large batch come back without database
    ids (``tenants.bulk.append_rows``). With ``instances=False`` (a caller that never reads
    them back: the retention sweep) a large batch is copied from its values, no
    ``AuditEvent`` built, and nothing is returned.

    Runs in the caller's transaction (no savepoint of its own: if the append fails, the
    caller's transaction fails with it), so an event describes only what was committed
    with it. ``details`` must hold ids and labels, never personal data.
    """
    if not events:
        return [] if instances else None
    copy = not instances and len(events) >= COPY_THRESHOLD
    built = _event_values(tenant, actor, events, instances=not copy)
    connection = connections[router.db_for_write(AuditEvent)]
    free, wait, update = _head_sql(connection)
    with (
        tenant_scope(tenant),
        transaction.atomic(using=connection.alias, savepoint=False),
        hot_cursor(connection) as cursor,
    ):
        stripe, sequence, previous = _locked_head(tenant, cursor, free, wait)
        for _row, values in built:
            sequence += 1
            values["stripe"], values["sequence"], values["prev_hash"] = stripe, sequence, previous
            values["hash"] = previous = event_hash(values)
        move_head: tuple[str, list[Any]] = (update, [sequence, previous, tenant.pk, stripe])
        if copy:
            copy_values(AuditEvent, _EVENT_FIELDS, [values for _row, values in built])
            cursor.execute(*move_head)
            return None
        rows = [_fill(cast(AuditEvent, row), values) for row, values in built]
        if len(rows) < COPY_THRESHOLD:
            insert_rows(AuditEvent, rows, _EVENT_FIELDS, along=move_head)  # one round trip
        else:
            append_rows(AuditEvent, rows, _EVENT_FIELDS)
            cursor.execute(*move_head)
    return rows if instances else None


_DB_CHAINED = ("stripe", "sequence", "prev_hash", "hash")


@dataclass(frozen=True)
class ChainedAppend:
    """``chained_append_sql``'s part of a caller's statement: ``ctes`` (to follow the
    caller's own; they start with a comma) and their ``params``. ``appended`` names the
    CTE returning the new events' (id, sequence, prev_hash, hash, stripe): hand the
    statement's rows of it to ``finish`` (rows of four, without the stripe, are read as
    before; the stripe is then left unset on the events)."""

    ctes: str
    params: list[Any]
    appended: str
    rows: list[tuple[AuditEvent, dict[str, Any]]]

    def finish(self, returned: Sequence[Sequence[Any]]) -> list[AuditEvent]:
        """The events, filled with what the database chained, in chain order."""
        alias = router.db_for_write(AuditEvent)
        out = []
        for (row, values), (pk, sequence, prev, hash_, *stripe) in zip(
            self.rows, sorted(returned, key=lambda r: int(r[1])), strict=True
        ):
            values["sequence"], values["prev_hash"] = int(sequence), prev
            values["stripe"], values["hash"] = (int(stripe[0]) if stripe else None), hash_
            out.append(_fill(row, values))
            if not stripe:  # left deferred: read from the database if asked for
                del row.__dict__["stripe"]
            row.pk = pk
            row._state.adding, row._state.db = False, alias
        return out


def chained_append_sql(
    tenant: Tenant, actor: Actor, events: Sequence[Event], *, when: str
) -> ChainedAppend:
    """Append ``events`` from inside a caller's own data-modifying statement (PostgreSQL):
    the database takes a free stripe head of ``tenant``'s chain (``record_events``; it
    waits only when all are taken), hashes each event from its canonical
    payload (``audits.chain.payload_parts``: the very text ``event_hash`` hashes, so
    verification cannot tell the two apart), inserts the events and moves the head.

    Nothing is appended, and the head is not locked, unless the caller's CTE ``when``
    has rows; the lock comes after the caller's own row locks. A tenant without a chain
    head appends nothing either: the caller checks that it has one first
    (``chain_head_exists_sql``)."""
    if not events:
        raise ValueError("chained_append_sql needs at least one event")
    # Refuses unregistered actions first; every event gets its row.
    rows = cast(list[tuple[AuditEvent, dict[str, Any]]], _event_values(tenant, actor, events))
    alias = router.db_for_write(AuditEvent)
    ctes, columns = _chain_plan(len(events), when, alias)
    connection = connections[alias]
    parts: list[Any] = []
    values_params: list[Any] = []
    for row, values in rows:
        parts += payload_parts(values)
        for name, value in values.items():
            if name not in _DB_CHAINED:
                setattr(row, name, value)
        values_params += [c.get_db_prep_save(c.pre_save(row, True), connection) for c in columns]
    params = [tenant.pk, tenant.pk, *parts, *values_params, tenant.pk]
    return ChainedAppend(ctes, params, "chain_appended", rows)


@functools.lru_cache(maxsize=32)
def _chain_plan(count: int, when: str, alias: str) -> tuple[str, tuple[Any, ...]]:
    """``chained_append_sql``'s CTEs for ``count`` events, and the event columns whose
    values are parameters (in order, for each event)."""
    connection = connections[alias]
    quote, meta = connection.ops.quote_name, AuditEvent._meta
    head = quote(AuditChainHead._meta.db_table)
    columns = [cast("models.Field[Any, Any]", meta.get_field(name)) for name in _EVENT_FIELDS]
    # UNION ALL resolves untyped parameters as text: give the others their column's type.
    casts = [
        "%s" if isinstance(c, models.CharField) else f"%s::{c.db_type(connection)}" for c in columns
    ]
    # Only quoted identifiers from the models' metadata and fixed CTE names; every value
    # is a parameter.
    # A free stripe head, else (every stripe taken) any one, waited for: the second CTE is
    # read only if the first has no row (a CTE runs only as far as it is read).
    guard = f"FROM {head} WHERE tenant_id = %s AND EXISTS (SELECT 1 FROM {when})"  # noqa: S608
    ctes = [
        f"chain_free AS (SELECT stripe, sequence, hash {guard} "
        "ORDER BY stripe LIMIT 1 FOR UPDATE SKIP LOCKED)",
        f"chain_wait AS (SELECT stripe, sequence, hash {guard} "
        "ORDER BY random() LIMIT 1 FOR UPDATE)",
        "chain_0 AS ((SELECT * FROM chain_free) UNION ALL (SELECT * FROM chain_wait) LIMIT 1)",
    ]
    for index in range(1, count + 1):
        before = f"chain_{index - 1}"
        ctes.append(
            f"chain_{index} AS (SELECT {before}.stripe, {before}.sequence + 1 AS sequence, "  # noqa: S608
            f"{before}.hash AS prev_hash, encode(sha256(convert_to(%s || "
            f"({before}.sequence + 1)::text || %s || '\"' || {before}.hash || '\"]', "
            f"'UTF8')), 'hex') AS hash FROM {before})"
        )
    selects = [
        "SELECT "  # noqa: S608
        + ", ".join(
            f"chain_{index}.{c.attname}" if c.attname in _DB_CHAINED else typed
            for c, typed in zip(columns, casts, strict=True)
        )
        + f" FROM chain_{index}"
        for index in range(1, count + 1)
    ]
    ctes.append(
        f"chain_appended AS (INSERT INTO {quote(meta.db_table)} "  # noqa: S608
        f"({', '.join(quote(str(c.column)) for c in columns)}) {' UNION ALL '.join(selects)} "
        "RETURNING id, sequence, prev_hash, hash, stripe)"
    )
    last = f"chain_{count}"
    ctes.append(
        f"chain_moved AS (UPDATE {head} SET sequence = {last}.sequence, "  # noqa: S608
        f"hash = {last}.hash FROM {last} WHERE {head}.tenant_id = %s "
        f"AND {head}.stripe = {last}.stripe)"
    )
    return ", " + ", ".join(ctes), tuple(c for c in columns if c.attname not in _DB_CHAINED)


def chain_head_exists_sql(tenant: Tenant) -> tuple[str, list[Any]]:
    """An SQL condition: ``tenant`` has a chain head (``chained_append_sql`` needs one)."""
    head = connections[router.db_for_write(AuditEvent)].ops.quote_name(
        AuditChainHead._meta.db_table
    )
    return f"EXISTS (SELECT 1 FROM {head} WHERE tenant_id = %s)", [tenant.pk]  # noqa: S608


def ensure_chain_head(tenant: Tenant) -> None:
    """Create ``tenant``'s chain heads, one per stripe, if it has none yet (its first event
    does too). Each starts at its stripe's genesis (``audits.models.stripe_genesis``)."""
    with tenant_scope(tenant):
        if AuditChainHead.objects.filter(tenant=tenant).count() < CHAIN_STRIPES:
            heads = [
                AuditChainHead(tenant=tenant, stripe=stripe, hash=stripe_genesis(stripe))
                for stripe in range(CHAIN_STRIPES)
            ]
            try:
                with transaction.atomic():
                    AuditChainHead.objects.bulk_create(heads, ignore_conflicts=True)
            except IntegrityError:
                pass  # created meanwhile by another writer


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
        writable_action(action, details)  # refused here, not when the block ends
        batch.pending.append((tenant, event))
        return event.row  # type: ignore[return-value]
    (row,) = record_events(tenant=tenant, actor=actor, events=[event])
    return row
