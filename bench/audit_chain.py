"""Bench step: the striped audit chain (decision 0019).

``bench_audit_chain(fx, quick)``:

- **appends**: 8 writer threads, each on its own database connection, append into one
  tenant, each in its own transactions as requests do: 1 event per transaction
  (``record_events``), 2 per transaction (``record_events``, as an intake row by row) and
  2 per transaction from inside one statement (``chained_append_sql``, the one-statement
  intake's audit part). The three are interleaved over ≥ 7 rounds; events/s per round,
  median with IQR.
- **verification**: 1M events (quick: 50k) over every stripe, seeded with real hashes by
  COPY, verified ≥ 3 rounds by ranges in worker processes (``verify_parallel``) and, for
  reference, in one process (the serial path), interleaved; events/s median with IQR, the
  paired ratio, and the number of worker processes. In the same rounds the same ranges are
  read by the same processes with nothing hashed (``verification.read_parallel``): the
  floor no verification of these rows can beat on this host.
- the same transactions inserting as many rows into a plain table (no chain) as the
  baseline: the paired ratio chain / plain per round says what the chain costs the
  writers (1.0: nothing), whatever the host's load.
- the host step's figures (``bench_host``) alongside, to compare runs.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

from django.db import connection, connections, transaction
from django.utils import timezone

from bench.common import Fixture, interleaved, paired_ratio, spread

WRITERS = 8


def _host() -> dict[str, Any]:
    """bench/run.py's host step (run as the script: its ``__main__``)."""
    measure: Any = getattr(sys.modules.get("__main__"), "bench_host", None)
    if measure is None:  # imported from elsewhere than bench/run.py
        from bench.run import bench_host as measure
    return dict(measure(5))


def _appends(fx: Fixture, rounds: int, per_writer: int) -> dict[str, Any]:
    from audits.services import Event, chained_append_sql, record_events
    from tenants.actors import SystemActor

    actor = SystemActor("bench")
    tenant = fx.tenant

    def one(n: int) -> Event:
        return Event(action="bench.append", object_type="orders.order", object_id=str(n))

    def by_record_events(size: int) -> None:
        for n in range(per_writer):
            with transaction.atomic():
                record_events(tenant=tenant, actor=actor, events=[one(n)] * size)

    def by_statement() -> None:
        for n in range(per_writer):
            chain = chained_append_sql(tenant, actor, [one(n), one(n)], when="placed")
            with connection.cursor() as cursor:
                cursor.execute(
                    f"WITH placed AS (SELECT 1 AS id){chain.ctes} "  # noqa: S608
                    f"SELECT json_agg(json_build_array(id, sequence, prev_hash, hash, stripe)) "
                    f"FROM {chain.appended}",
                    chain.params,
                )
                chain.finish(cursor.fetchone()[0])

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_chain_plain (id bigserial PRIMARY KEY, "
            "tenant_id bigint NOT NULL, action varchar(64) NOT NULL, object_id varchar(64) "
            "NOT NULL, details jsonb NOT NULL, hash varchar(64) NOT NULL)"
        )

    def plain(size: int) -> None:
        """The baseline: the same transactions inserting as many plain rows, no chain."""
        for n in range(per_writer):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO bench_chain_plain (tenant_id, action, object_id, details, hash) "
                    "SELECT %s, 'bench.append', %s, '{}'::jsonb, repeat('0', 64) "
                    "FROM generate_series(1, %s)",
                    [tenant.pk, str(n), size],
                )

    def rate(body: Any, events_per_tx: int) -> float:
        errors: list[BaseException] = []

        def writer() -> None:
            try:
                body()
            except BaseException as error:  # noqa: BLE001 - re-raised below
                errors.append(error)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
        if errors:
            raise errors[0]
        return WRITERS * per_writer * events_per_tx / elapsed

    one_tx, two_tx, statement, plain_one, plain_two = interleaved(
        rounds,
        lambda: rate(lambda: by_record_events(1), 1),
        lambda: rate(lambda: by_record_events(2), 2),
        lambda: rate(by_statement, 2),
        lambda: rate(lambda: plain(1), 1),
        lambda: rate(lambda: plain(2), 2),
    )
    from audits.verification import verify_tenant_chain

    count, broken = verify_tenant_chain(tenant)
    if broken is not None:
        raise AssertionError(str(broken))
    return {
        "writers": WRITERS,
        "transactions_per_writer_per_round": per_writer,
        "events_per_s_1_per_tx": spread(one_tx),
        "events_per_s_2_per_tx": spread(two_tx),
        "events_per_s_2_per_statement": spread(statement),
        "plain_rows_per_s_1_per_tx": spread(plain_one),
        "plain_rows_per_s_2_per_tx": spread(plain_two),
        # The chain's cost against the same transactions without it (1.0: none).
        "chain_over_plain_1_per_tx": paired_ratio(one_tx, plain_one),
        "chain_over_plain_2_per_tx": paired_ratio(two_tx, plain_two),
        "per_round": {
            "1_per_tx": [round(r) for r in one_tx],
            "2_per_tx": [round(r) for r in two_tx],
            "2_per_statement": [round(r) for r in statement],
        },
        "chain_verified_after": count,
    }


def _seed(events: int) -> Any:
    """A tenant whose chain holds ``events`` events spread over every stripe, with real
    hashes, written by COPY; the heads moved to their ends."""
    from audits.chain import CHAINED_FIELDS, event_hash
    from audits.models import CHAIN_STRIPES, AuditChainHead, AuditEvent, stripe_genesis
    from audits.services import ensure_chain_head
    from tenants.actors import SystemActor
    from tenants.services import create_tenant

    actor = SystemActor("bench")
    tenant = create_tenant(slug=f"chain-{uuid.uuid4().hex[:8]}", name="Chain", actor=actor)
    ensure_chain_head(tenant)
    from tenants.scoping import tenant_scope

    with tenant_scope(tenant):
        heads = {
            h.stripe: (h.sequence, h.hash) for h in AuditChainHead.objects.filter(tenant=tenant)
        }
    now = timezone.now()
    columns = ("stripe", *CHAINED_FIELDS, "hash")
    ends = {s: heads.get(s, (0, stripe_genesis(s))) for s in range(CHAIN_STRIPES)}
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(
            f"COPY {AuditEvent._meta.db_table} ({', '.join(columns)}) FROM STDIN"  # noqa: S608
        ) as copy,
    ):
        for n in range(events):
            stripe = n % CHAIN_STRIPES
            sequence, previous = ends[stripe]
            sequence += 1
            # Events shaped like the product's own: an intake's, a reveal, a status change.
            kind = n % 3
            object_id = str(uuid.UUID(int=n + 1))
            values = {
                "tenant_id": tenant.pk,
                "sequence": sequence,
                "occurred_at": now + timedelta(microseconds=n),
                "actor": ("token:7", "user:42", "user:43")[kind],
                "action": ("order.created", "privacy.reveal", "order.status_changed")[kind],
                "object_type": "orders.order",
                "object_id": object_id,
                "fields": ([], ["phone"], [])[kind],
                "purpose": ("", "customer_service_call", "")[kind],
                "request_id": uuid.UUID(int=(n + 1) << 64).hex,
                "ip": ("203.0.113.7", "2001:db8::42", None)[kind],
                "details": (
                    {
                        "code": f"K{n % 99999:05d}-7Q2MX",
                        "items": 3,
                        "channel": "api",
                        "notice_version": 1,
                        "subject": object_id,
                    },
                    {"masked": "138****5678", "名": "值"},
                    {"from": "received", "to": "preparing"},
                )[kind],
                "prev_hash": previous,
            }
            digest = event_hash(values)
            copy.write_row(
                [stripe]
                + [
                    json.dumps(values[name], ensure_ascii=False)
                    if name in ("fields", "details")
                    else values[name]
                    for name in CHAINED_FIELDS
                ]
                + [digest]
            )
            ends[stripe] = (sequence, digest)
    with connection.cursor() as cursor:
        for stripe, (sequence, hash_) in ends.items():
            cursor.execute(
                f"UPDATE {AuditChainHead._meta.db_table} SET sequence = %s, hash = %s "  # noqa: S608
                "WHERE tenant_id = %s AND stripe = %s",
                [sequence, hash_, tenant.pk, stripe],
            )
        cursor.execute(f"ANALYZE {AuditEvent._meta.db_table}")  # noqa: S608
    return tenant


def _verification(events: int, rounds: int) -> dict[str, Any]:
    from audits import verification

    started = time.perf_counter()
    tenant = _seed(events)
    seeded = time.perf_counter() - started
    workers = os.cpu_count() or 1
    size = max(10_000, events // (4 * workers))

    def parallel() -> float:
        start = time.perf_counter()
        count, broken = verification.verify_parallel(tenant, workers=workers, size=size)
        if broken is not None or count < events:
            raise AssertionError(f"{count} events, {broken}")
        return count / (time.perf_counter() - start)

    def serial() -> float:
        # The serial path, as a chain below the parallel threshold is verified.
        threshold = verification.PARALLEL_FROM
        verification.PARALLEL_FROM = 1 << 62
        try:
            start = time.perf_counter()
            count, broken = verification.verify_tenant_chain(tenant)
        finally:
            verification.PARALLEL_FROM = threshold
        if broken is not None or count < events:
            raise AssertionError(f"{count} events, {broken}")
        return count / (time.perf_counter() - start)

    def read_only() -> float:
        # The floor: the same ranges read by the same processes, nothing hashed.
        start = time.perf_counter()
        count = verification.read_parallel(tenant, workers=workers, size=size)
        if count < events:
            raise AssertionError(f"{count} events read")
        return count / (time.perf_counter() - start)

    par, ser, read = interleaved(rounds, parallel, serial, read_only)
    return {
        "events": events,
        "seed_seconds": round(seeded, 1),
        "worker_processes": workers,
        "range_size": size,
        "events_per_s_parallel": spread(par),
        "events_per_s_serial": spread(ser),
        "parallel_over_serial": paired_ratio(par, ser),
        # Reading the rows alone, as verification reads them: no hashing can be faster.
        "events_per_s_read_only": spread(read),
        "parallel_over_read_only": paired_ratio(par, read),
    }


def bench_audit_chain(fx: Fixture, quick: bool) -> dict[str, Any]:
    host = _host()
    appends = _appends(fx, 7, 25 if quick else 150)
    verify = _verification(50_000 if quick else 1_000_000, 3)
    return {"host": host, "appends": appends, "verification": verify}
