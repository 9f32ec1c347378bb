"""Verifying a tenant's audit chain: every stripe (decision 0019) from its genesis to its
head, then the anchors kept outside the database.

Two paths give the same answer (tests hold them equal):

- serial, through the Django connection (SQLite, a small chain, or a caller inside a
  transaction, whose own uncommitted events only its connection sees);
- parallel on PostgreSQL for a large chain: the chain is cut into ranges of sequences
  (per stripe), worker processes each stream ranges (server-side cursor, read ahead) in the
  coordinator's exported snapshot (``pg_export_snapshot``: every worker sees the very
  database state the heads were read in, whatever is appended meanwhile) and hash them;
  the links between consecutive ranges — the first row's sequence and previous hash
  against the range before's last — and each stripe's end against its head are compared
  at the end, in chain order, so the first break reported is the same as the serial one's.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta
from itertools import groupby
from typing import Any

from django.conf import settings
from django.db import connections, router, transaction

from audits.anchoring import AnchorReport, check_anchors
from audits.chain import CHAINED_FIELDS, ChainBreak, Walked, head_break, verify_rows, walk
from audits.models import CHAIN_STRIPES, AuditChainHead, AuditEvent, stripe_genesis
from tenants.models import Tenant
from tenants.scoping import tenant_scope

BATCH = 20000
#: Events per range of the parallel path, and the smallest chain it is used for.
RANGE = 100_000
PARALLEL_FROM = 200_000

Heads = dict[int, tuple[int, str]]  # stripe -> (sequence, hash)


def _heads(tenant: Tenant) -> Heads:
    rows = AuditChainHead.objects.filter(tenant=tenant).values_list("stripe", "sequence", "hash")
    return {int(stripe): (int(sequence), str(hash_)) for stripe, sequence, hash_ in rows}


def _missing_heads(tenant: Tenant, heads: Heads) -> ChainBreak | None:
    """A tenant with heads has exactly ``CHAIN_STRIPES`` of them: a head removed, with
    its stripe's events, would otherwise take the stripe out of verification."""
    if not heads:
        return None
    missing = sorted(set(range(CHAIN_STRIPES)) - set(heads))
    extra = sorted(set(heads) - set(range(CHAIN_STRIPES)))
    if not missing and not extra:
        return None
    stripe = (missing or extra)[0]
    reason = (
        f"the chain heads of stripes {missing} are missing (a stripe was removed)"
        if missing
        else f"unexpected chain heads of stripes {extra}"
    )
    return ChainBreak(tenant.pk, 0, None, reason, stripe)


def _stray(tenant: Tenant, stripe: int) -> ChainBreak:
    reason = "events in a stripe that has no chain head (moved, or the head was removed)"
    return ChainBreak(tenant.pk, 1, None, reason, stripe)


def verify_tenant_chain(
    tenant: Tenant, *, workers: int | None = None
) -> tuple[int, ChainBreak | None]:
    """Recompute ``tenant``'s chain, every stripe in sequence order, against its heads.
    Returns the number of events checked and the first break (by stripe, then sequence).
    A large chain on PostgreSQL is checked in parallel (``verify_parallel``)."""
    with tenant_scope(tenant):
        heads = _heads(tenant)
        connection = connections[router.db_for_read(AuditEvent)]
        total = sum(sequence for sequence, _hash in heads.values())
        if (
            connection.vendor == "postgresql"
            and total >= PARALLEL_FROM
            and not connection.in_atomic_block
            and _may_fork()
        ):
            return verify_parallel(tenant, workers=workers)
        if (broken := _missing_heads(tenant, heads)) is not None:
            return 0, broken
        if connection.vendor == "postgresql":
            # A server-side cursor needs a transaction; the rows are closed (and the
            # read-ahead thread joined) before it ends, also when a break stops early.
            with (
                transaction.atomic(using=connection.alias),
                closing(_text_rows(connection, tenant)) as rows,
            ):
                return _verify_stripes(tenant, rows, heads, as_text=True)
        orm_rows = (
            AuditEvent.objects.order_by("stripe", "sequence")
            .values_list("stripe", "id", "hash", *CHAINED_FIELDS[1:])
            .iterator(chunk_size=BATCH)
        )
        return _verify_stripes(tenant, orm_rows, heads, as_text=False)


def _verify_stripes(
    tenant: Tenant, rows: Iterable[tuple[Any, ...]], heads: Heads, *, as_text: bool
) -> tuple[int, ChainBreak | None]:
    """Rows of every stripe, ``(stripe, id, hash, ...)`` by stripe then sequence."""
    count, seen = 0, set[int]()
    for stripe, stripe_rows in groupby(rows, key=lambda row: int(row[0])):
        for empty in sorted(set(heads) - seen):
            if empty >= stripe:
                break
            seen.add(empty)
            if (broken := _empty_stripe(tenant, empty, heads)) is not None:
                return count, broken
        if stripe not in heads:
            return count, _stray(tenant, stripe)
        seen.add(stripe)
        checked, broken = verify_rows(
            tenant.pk,
            (row[1:] for row in stripe_rows),
            heads[stripe],
            as_text=as_text,
            stripe=stripe,
        )
        count += checked
        if broken is not None:
            return count, broken
    for empty in sorted(set(heads) - seen):
        if (broken := _empty_stripe(tenant, empty, heads)) is not None:
            return count, broken
    return count, None


def _empty_stripe(tenant: Tenant, stripe: int, heads: Heads) -> ChainBreak | None:
    return head_break(tenant.pk, stripe, (0, stripe_genesis(stripe)), heads[stripe])


def _select(connection: Any, *, where: str) -> str:
    """The events' columns as the canonical form needs them: PostgreSQL writes the time in
    its canonical text (UTC, microseconds) and hands the JSON columns over as text, so no
    date-time or ORM conversion runs per row (the profile's largest cost)."""
    meta = AuditEvent._meta
    quote = connection.ops.quote_name

    def column(name: str) -> str:
        return quote(meta.get_field(name).column)  # type: ignore[union-attr]

    canonical = {
        "occurred_at": (
            f"to_char({column('occurred_at')} AT TIME ZONE 'UTC', "
            '\'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"\')'
        ),
        "fields": f"{column('fields')}::text",
        "details": f"{column('details')}::text",
        "ip": f"host({column('ip')})",
    }
    names = ("stripe", "id", "hash", *CHAINED_FIELDS[1:])
    selected = [canonical.get(name, column(name)) for name in names]
    # Quoted identifiers and fixed expressions only; values are parameters.
    return (
        f"SELECT {', '.join(selected)} FROM {quote(meta.db_table)} "  # noqa: S608
        f"WHERE {column('tenant')} = %s {where} ORDER BY {column('stripe')}, {column('sequence')}"
    )


def _text_rows(connection: Any, tenant: Tenant) -> Generator[tuple[Any, ...], None, None]:
    """The tenant's events (``_select``) streamed by a server-side cursor. The ORM path
    above is the reference; tests run both."""
    statement = _select(connection, where="")
    connection.ensure_connection()
    with (
        connection.connection.cursor(name=f"verify_chain_{tenant.pk}") as cursor,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify-read-ahead") as ahead,
    ):
        cursor.execute(statement, [tenant.pk])
        # Read ahead: while this batch is hashed, a thread waits for the next one (the
        # wait releases the GIL), so the server's work overlaps ours instead of
        # alternating with it. Only that thread touches the cursor until it is closed.
        pending = ahead.submit(cursor.fetchmany, BATCH)
        try:
            while batch := pending.result():
                pending = ahead.submit(cursor.fetchmany, BATCH)
                yield from batch
        except GeneratorExit:
            # Closed early (a break was found): the fetch under way still ends before the
            # cursor closes, and if it failed, its error is raised, not dropped (it left
            # the transaction aborted, which would otherwise surface later, unexplained).
            if (error := pending.exception()) is not None:
                raise error from None
            raise


# --- parallel verification (PostgreSQL) ------------------------------------------------------


def _may_fork() -> bool:
    # A daemonic process (a Celery prefork child) may not start processes.
    return not multiprocessing.current_process().daemon


_LIBPQ_OPTIONS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "options")


def _conninfo(alias: str) -> dict[str, Any]:
    """How a worker process reaches the database: the alias's own settings (its test
    database under tests), never its open connection."""
    config = connections[alias].settings_dict
    out = {
        "dbname": config["NAME"],
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
        "host": config.get("HOST") or None,
        "port": config.get("PORT") or None,
    }
    out.update({k: v for k, v in (config.get("OPTIONS") or {}).items() if k in _LIBPQ_OPTIONS})
    return {k: v for k, v in out.items() if v not in (None, "")}


@dataclass(frozen=True)
class Range:
    """Sequences ``low..high`` of one stripe (either end open: the first range also takes
    anything below, the last anything above, so no row escapes verification)."""

    stripe: int
    low: int | None
    high: int | None


def plan_ranges(heads: Heads, size: int) -> list[Range]:
    """Every stripe cut into ranges of about ``size`` events, by its head's sequence."""
    out = []
    for stripe in sorted(heads):
        top = heads[stripe][0]
        bounds = list(range(1, top + 1, size)) or [1]
        for index, low in enumerate(bounds):
            last = index == len(bounds) - 1
            out.append(Range(stripe, None if index == 0 else low, None if last else low + size - 1))
    return out


_worker: dict[str, Any] = {}


def _worker_start(conninfo: dict[str, Any], snapshot: str) -> None:
    """Each worker process: its own connection, in the coordinator's snapshot."""
    import psycopg

    connection = psycopg.connect(**conninfo, autocommit=True)
    connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    connection.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")  # from pg_export_snapshot
    _worker["connection"] = connection


def _range_rows(statement: str, params: list[Any]) -> Generator[tuple[Any, ...], None, None]:
    """A range's rows, without the stripe, streamed by a server-side cursor of the worker's
    connection with the next batch read ahead in a thread (as the serial path does: the
    server's work overlaps the hashing; measured faster here than COPY ... TO STDOUT,
    whose rows arrive only as the worker asks for them)."""
    connection = _worker["connection"]
    with (
        connection.cursor(name="verify_range") as cursor,
        ThreadPoolExecutor(max_workers=1) as ahead,
    ):
        cursor.execute(statement, params)
        pending = ahead.submit(cursor.fetchmany, BATCH)
        try:
            while batch := pending.result():
                pending = ahead.submit(cursor.fetchmany, BATCH)
                for row in batch:
                    yield row[1:]  # without the stripe
        except GeneratorExit:  # a break was found: the fetch under way ends first
            pending.exception()
            raise


def range_params(tenant_id: int, part: Range) -> list[Any]:
    """The parameters of ``part``'s statement (``_range_statement``)."""
    params: list[Any] = [tenant_id, part.stripe]
    if part.low is not None:
        params.append(part.low)
    if part.high is not None:
        params.append(part.high)
    return params


def _check_range(tenant_id: int, part: Range, statement: str) -> tuple[Range, Walked]:
    with closing(_range_rows(statement, range_params(tenant_id, part))) as rows:
        return part, walk(tenant_id, rows, stripe=part.stripe, as_text=True)


def _range_statement(connection: Any, part: Range) -> str:
    where = "AND stripe = %s"
    if part.low is not None:
        where += " AND sequence >= %s"
    if part.high is not None:
        where += " AND sequence <= %s"
    return _select(connection, where=where)


def join_ranges(
    tenant_id: int, heads: Heads, results: Iterable[tuple[Range, Walked]]
) -> tuple[int, ChainBreak | None]:
    """The ranges' results in chain order, joined: each range's first row must follow the
    range before (sequence and previous hash), a break inside a range counts where it
    is, and each stripe's end must be its head. The first break in chain order wins."""
    ordered = sorted(results, key=lambda item: (item[0].stripe, item[0].low or 0))
    count = 0
    for stripe, parts in groupby(ordered, key=lambda item: item[0].stripe):
        end = (0, stripe_genesis(stripe))
        for _part, walked in parts:
            if walked.first is not None:
                sequence, prev, event_id = walked.first
                if sequence != end[0] + 1:
                    reason = (
                        f"expected sequence {end[0] + 1}, found {sequence} "
                        "(an event was deleted or reordered)"
                    )
                    return count, ChainBreak(tenant_id, end[0] + 1, event_id, reason, stripe)
                if prev != end[1]:
                    reason = (
                        "previous-hash link does not match the preceding event "
                        "(deleted or reordered)"
                    )
                    return count, ChainBreak(tenant_id, sequence, event_id, reason, stripe)
            count += walked.count
            if walked.chain_break is not None:
                return count, walked.chain_break
            if walked.last is not None:
                end = walked.last
        if stripe not in heads:
            return count, ChainBreak(
                tenant_id,
                1,
                None,
                "events in a stripe that has no chain head (moved, or the head was removed)",
                stripe,
            )
        if (broken := head_break(tenant_id, stripe, end, heads[stripe])) is not None:
            return count, broken
    return count, None


def verify_parallel(
    tenant: Tenant, *, workers: int | None = None, size: int = RANGE
) -> tuple[int, ChainBreak | None]:
    """``verify_tenant_chain`` by ranges of ``size`` events checked in ``workers``
    processes (one per CPU by default), on PostgreSQL, outside any transaction of the
    caller's connection (workers see only committed rows)."""
    ran = _in_ranges(tenant, workers, size, _check_range)
    if isinstance(ran, ChainBreak):
        return 0, ran
    heads, stray, results = ran
    count, broken = join_ranges(tenant.pk, heads, results)
    if broken is None and stray is not None:
        return count, _stray(tenant, stray)
    return count, broken


def read_parallel(tenant: Tenant, *, workers: int | None = None, size: int = RANGE) -> int:
    """Read the tenant's events exactly as ``verify_parallel`` reads them — the same
    ranges, statements, processes and snapshot — and check nothing: the floor under
    verification on this host (the bench compares the two). Returns the rows read."""
    ran = _in_ranges(tenant, workers, size, _count_range)
    return 0 if isinstance(ran, ChainBreak) else sum(ran[2])


def _count_range(tenant_id: int, part: Range, statement: str) -> int:
    with closing(_range_rows(statement, range_params(tenant_id, part))) as rows:
        return sum(1 for _row in rows)


def _in_ranges(
    tenant: Tenant, workers: int | None, size: int, task: Callable[[int, Range, str], Any]
) -> tuple[Heads, int | None, list[Any]] | ChainBreak:
    """Run ``task`` on every range of the tenant's stripes in worker processes sharing
    one snapshot; the heads, the lowest stripe number out of range (or None) and each
    range's result in plan order — or the break when heads are missing."""
    import psycopg

    alias = router.db_for_read(AuditEvent)
    connection = connections[alias]
    info = _conninfo(alias)
    workers = workers or os.cpu_count() or 1
    head_table = connection.ops.quote_name(AuditChainHead._meta.db_table)
    event_table = connection.ops.quote_name(AuditEvent._meta.db_table)
    with psycopg.connect(**info, autocommit=True) as coordinator:
        coordinator.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = str(coordinator.execute("SELECT pg_export_snapshot()").fetchone()[0])  # type: ignore[index]
        heads: Heads = {
            int(stripe): (int(sequence), str(hash_))
            for stripe, sequence, hash_ in coordinator.execute(
                f"SELECT stripe, sequence, hash FROM {head_table} WHERE tenant_id = %s",  # noqa: S608
                [tenant.pk],
            )
        }
        if (broken := _missing_heads(tenant, heads)) is not None:
            return broken
        stray = coordinator.execute(
            f"SELECT min(stripe) FROM {event_table} WHERE tenant_id = %s "  # noqa: S608
            "AND (stripe < 0 OR stripe >= %s)",
            [tenant.pk, CHAIN_STRIPES],
        ).fetchone()
        parts = plan_ranges(heads, size)
        statements = {
            (p.low is None, p.high is None): _range_statement(connection, p) for p in parts
        }
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(
            max_workers=min(workers, len(parts)),
            mp_context=context,
            initializer=_worker_start,
            initargs=(info, snapshot),
        ) as pool:
            futures = [
                pool.submit(
                    task, tenant.pk, part, statements[(part.low is None, part.high is None)]
                )
                for part in parts
            ]
            results = [future.result() for future in futures]
        coordinator.execute("COMMIT")
    first_stray = None if stray is None or stray[0] is None else int(stray[0])
    return heads, first_stray, results


@dataclass(frozen=True)
class ChainReport:
    """A tenant's chain verified with its anchors (``verify_chain_with_anchors``)."""

    events: int
    chain_break: ChainBreak | None
    anchors: AnchorReport
    head_sequence: int

    @property
    def ok(self) -> bool:
        return self.chain_break is None and self.anchors.ok

    def first_problem(self) -> str:
        if self.chain_break is not None:
            return str(self.chain_break)
        return self.anchors.problems[0] if self.anchors.problems else ""


def verify_chain_with_anchors(tenant: Tenant) -> ChainReport:
    """``verify_tenant_chain``, then the anchors read from the sinks outside the database
    (``audits.anchoring.check_anchors``): a chain rewritten after the fact, hashes and heads
    recomputed, verifies by itself but not against the anchors written before.
    ``head_sequence`` is the number of events the heads count (all stripes)."""
    count, chain_break = verify_tenant_chain(tenant)
    with tenant_scope(tenant):
        heads = {stripe: sequence for stripe, (sequence, _hash) in _heads(tenant).items()}
    stale_after = timedelta(hours=settings.BAOMI_ANCHOR_STALE_HOURS)
    anchors = check_anchors(tenant, head_sequence=heads, stale_after=stale_after)
    return ChainReport(count, chain_break, anchors, sum(heads.values()))
