"""The access statistics' incremental roll-up (issue 20; docs/decisions/0014).

``roll_up_access(tenant)`` adds a tenant's access events written since its last run to
``AccessRollup`` — one row per (UTC hour, kind, purpose, actor, roles) — and moves the
tenant's ``AccessRollupCursor`` past them. Each batch is one transaction: the cursor row is
locked, then one statement counts the batch's events into the rows (``INSERT ... SELECT
... GROUP BY ... ON CONFLICT DO UPDATE``, adding to the counts) and moves the cursor (a
data-modifying CTE on PostgreSQL; the next statement on SQLite, whose IMMEDIATE
transactions let one writer in at a time). So every event is counted exactly once: a run
that dies midway leaves whole batches behind, and a second run at the same time waits for
the lock and then starts where the first stopped.

A batch is a range of sequence numbers of one stripe of the chain (decision 0019; the
log's unique (tenant, stripe, sequence) index), the cursor holding a sequence per stripe
(``AccessRollupCursor.stripes``; ``sequence`` is their total); only the access actions in
it are counted. The roles are those the actor holds
when the batch is rolled up (the beat runs every minute), read in the same statement.

This is derived data, like an index: it has no actor, checks no permission and writes no
audit event (a job every minute would otherwise fill the log with its own runs).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from django.db import connections, router, transaction

from audits.models import AccessKind, AccessRollup, AccessRollupCursor, AuditChainHead, AuditEvent
from tenants.bulk import hot_cursor
from tenants.models import Membership, Tenant
from tenants.scoping import tenant_scope

#: The log's access actions (privacy's audit_actions; audits imports no later app, so
#: the codes are named here) and the kind each is counted as.
ACCESS_ACTIONS: dict[str, AccessKind] = {
    "privacy.reveal": AccessKind.REVEAL,
    "privacy.reveal_batch": AccessKind.REVEAL,
    "privacy.reveal_denied": AccessKind.REVEAL_DENIED,
    "privacy.reveal_batch_denied": AccessKind.REVEAL_DENIED,
    "privacy.reveal_failed": AccessKind.REVEAL_FAILED,
    "privacy.reveal_batch_failed": AccessKind.REVEAL_FAILED,
    "privacy.search": AccessKind.SEARCH,
    "privacy.search_denied": AccessKind.SEARCH_DENIED,
}
#: A list's events name their records' number in ``details["count"]``; others count one.
BATCH_ACTIONS = frozenset(
    {"privacy.reveal_batch", "privacy.reveal_batch_denied", "privacy.reveal_batch_failed"}
)

#: Sequence numbers per batch: about a second's work per batch on PostgreSQL
#: (docs/decisions/0014 has the measurement).
DEFAULT_BATCH = 100_000


def actions_of(kind: AccessKind | str) -> list[str]:
    """The log's actions counted as ``kind``, for a filter on the log's list."""
    return sorted(code for code, found in ACCESS_ACTIONS.items() if found == kind)


@dataclass(frozen=True)
class RollupRun:
    """What a run did: ``batches`` committed, ``scanned`` sequence numbers read (every
    event of those batches, access or not), ``sequence`` where the cursor stands after
    (the total over the stripes)."""

    batches: int
    scanned: int
    sequence: int
    busy: bool = False  # another run held the cursor, and this one did not wait


def roll_up_access(
    tenant: Tenant,
    *,
    batch: int = DEFAULT_BATCH,
    max_batches: int | None = None,
    wait: bool = True,
) -> RollupRun:
    """Count ``tenant``'s access events written since the last run into ``AccessRollup``,
    ``batch`` sequence numbers per transaction, until the cursor reaches the chain's head
    (or after ``max_batches``). With ``wait=False`` a run that finds another one holding
    the tenant's cursor returns at once (``busy``; PostgreSQL only: SQLite's writers take
    turns anyway). Safe to run at any time, any number of times, at once."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    alias = router.db_for_write(AccessRollup)
    connection = connections[alias]
    postgres = connection.vendor == "postgresql"
    _ensure_cursor(tenant, alias)
    lock, heads, upsert, move = _statements(alias)
    if not wait and postgres:
        lock += " SKIP LOCKED"
    batches = scanned = 0
    sequence = 0
    with tenant_scope(tenant):
        while max_batches is None or batches < max_batches:
            with transaction.atomic(using=alias), hot_cursor(connection) as cursor:
                cursor.execute(lock, [tenant.pk])
                row = cursor.fetchone()
                if row is None:  # locked by another run (SKIP LOCKED)
                    return RollupRun(batches, scanned, sequence, busy=True)
                marks = _marks(row[0], row[1])
                sequence = sum(marks)
                cursor.execute(heads, [tenant.pk])
                behind = [
                    (int(stripe), int(top))
                    for stripe, top in cursor.fetchall()
                    if int(top) > (marks[int(stripe)] if int(stripe) < len(marks) else 0)
                ]
                if not behind:
                    break
                stripe, top = min(behind)
                marks += [0] * (stripe + 1 - len(marks))
                low = marks[stripe]
                high = min(low + batch, top)
                marks[stripe] = high
                moved: list[Any] = [sum(marks), json.dumps(marks), tenant.pk]
                params: list[Any] = [tenant.pk, tenant.pk, tenant.pk, stripe, low, high]
                if postgres:
                    cursor.execute(upsert, [*moved, *params])
                else:
                    cursor.execute(upsert, params)
                    cursor.execute(move, moved)
                batches, scanned, sequence = batches + 1, scanned + high - low, sum(marks)
    return RollupRun(batches, scanned, sequence)


def _ensure_cursor(tenant: Tenant, alias: str) -> None:
    """The tenant's cursor row, created at sequence 0 on its first run."""
    with tenant_scope(tenant):
        if AccessRollupCursor.objects.using(alias).filter(tenant=tenant).exists():
            return
        table = connections[alias].ops.quote_name(AccessRollupCursor._meta.db_table)
        with connections[alias].cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (tenant_id, sequence, stripes) VALUES (%s, 0, '[]') "  # noqa: S608
                "ON CONFLICT (tenant_id) DO NOTHING",
                [tenant.pk],
            )


def _sql_list(codes: Any) -> str:
    # Fixed action codes of this module (lower-case letters, dots, underscores).
    return ", ".join(f"'{code}'" for code in sorted(codes))


def _marks(total: Any, stripes: Any) -> list[int]:
    """The cursor's sequence per stripe (a cursor from before stripes: its one sequence
    is stripe 0's)."""
    if isinstance(stripes, str):  # SQLite hands JSON over as text
        stripes = json.loads(stripes)
    return [int(value) for value in stripes] if stripes else [int(total or 0)]


@functools.lru_cache(maxsize=4)
def _statements(alias: str) -> tuple[str, str, str, str]:
    """The lock, the heads, the upsert (with the cursor's move on PostgreSQL) and the
    move (SQLite).

    The upsert's parameters: [the move's (total, stripes as JSON, tenant) on PostgreSQL,]
    tenant (memberships), tenant (rows), tenant (events), stripe, low (excluded), high
    (included)."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    rollup, cursor_table = (
        quote(AccessRollup._meta.db_table),
        quote(AccessRollupCursor._meta.db_table),
    )
    events, head = quote(AuditEvent._meta.db_table), quote(AuditChainHead._meta.db_table)
    members = quote(Membership._meta.db_table)
    postgres = connection.vendor == "postgresql"
    kinds = " ".join(
        f"WHEN '{code}' THEN '{kind.value}'" for code, kind in sorted(ACCESS_ACTIONS.items())
    )
    batch_actions, access_actions = _sql_list(BATCH_ACTIONS), _sql_list(ACCESS_ACTIONS)
    if postgres:
        bucket = "date_trunc('hour', e.occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
        count = (
            "CASE WHEN jsonb_typeof(e.details -> 'count') = 'number' "
            "THEN GREATEST((e.details ->> 'count')::numeric, 0)::bigint ELSE 1 END"
        )
        staff = (
            f"SELECT 'user:' || m.user_id::text AS actor, "  # noqa: S608
            f"string_agg(m.role, ',' ORDER BY m.role) AS roles "
            f"FROM {members} m WHERE m.tenant_id = %s GROUP BY m.user_id"
        )
        lock = (
            f"SELECT c.sequence, c.stripes FROM {cursor_table} c "  # noqa: S608
            "WHERE c.tenant_id = %s FOR UPDATE OF c"
        )
    else:
        bucket = "strftime('%%Y-%%m-%%d %%H:00:00', e.occurred_at)"
        count = (
            "CASE WHEN json_type(e.details, '$.count') IN ('integer', 'real') "
            "THEN CAST(max(json_extract(e.details, '$.count'), 0) AS INTEGER) ELSE 1 END"
        )
        # SQLite before 3.44 has no ORDER BY inside an aggregate: group_concat follows
        # the ordered subquery's order.
        staff = (
            "SELECT 'user:' || s.user_id AS actor, group_concat(s.role, ',') AS roles "  # noqa: S608
            f"FROM (SELECT m.user_id, m.role FROM {members} m WHERE m.tenant_id = %s "
            "ORDER BY m.user_id, m.role) s GROUP BY s.user_id"
        )
        lock = (
            f"SELECT c.sequence, c.stripes FROM {cursor_table} c "  # noqa: S608
            "WHERE c.tenant_id = %s"
        )
    heads = f"SELECT stripe, sequence FROM {head} WHERE tenant_id = %s"  # noqa: S608
    insert = (
        f"INSERT INTO {rollup} "  # noqa: S608
        "(tenant_id, bucket, kind, purpose, actor, roles, records, events) "
        f"SELECT %s, {bucket}, CASE e.action {kinds} END, e.purpose, e.actor, "
        "COALESCE(staff.roles, ''), "
        f"SUM(CASE WHEN e.action IN ({batch_actions}) THEN {count} ELSE 1 END), COUNT(*) "
        f"FROM {events} e LEFT JOIN staff ON staff.actor = e.actor "
        "WHERE e.tenant_id = %s AND e.stripe = %s AND e.sequence > %s AND e.sequence <= %s "
        f"AND e.action IN ({access_actions}) "
        "GROUP BY 2, 3, 4, 5, 6 "
        "ON CONFLICT (tenant_id, bucket, kind, purpose, actor, roles) DO UPDATE SET "
        f"records = {rollup}.records + excluded.records, "
        f"events = {rollup}.events + excluded.events"
    )
    now = "now()" if postgres else "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now')"
    stripes = "%s::jsonb" if postgres else "%s"
    move = (
        f"UPDATE {cursor_table} SET sequence = %s, stripes = {stripes}, "  # noqa: S608
        f"rolled_up_at = {now} WHERE tenant_id = %s"
    )
    if postgres:
        upsert = f"WITH moved AS ({move}), staff AS ({staff}) {insert}"
    else:
        upsert = f"WITH staff AS ({staff}) {insert}"
    return lock, heads, upsert, move
