"""The striped audit chain (decision 0019): concurrent writers of one tenant take different
stripes instead of turns, every stripe verifies on its own, a break in any stripe is found
and named, the anchor covers every stripe, the migration keeps an old chain verifiable,
and the parallel verification finds what the serial one finds."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import DatabaseError, connection, connections, transaction
from django.db.migrations.executor import MigrationExecutor

from audits.anchoring import anchor_chain_head, check_anchors
from audits.chain import CHAINED_FIELDS, event_hash
from audits.models import CHAIN_STRIPES, AuditChainHead, AuditEvent, stripe_genesis
from audits.services import Event, chained_append_sql, ensure_chain_head, record_event
from audits.verification import (
    join_ranges,
    plan_ranges,
    read_parallel,
    verify_parallel,
    verify_tenant_chain,
)
from tenants.actors import SystemActor
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tests.factories import TenantFactory

SYSTEM = SystemActor("tests")
pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's row locks"),
    pytest.mark.django_db(transaction=True),
]


def _event(n: int) -> dict[str, Any]:
    return {"action": "test.event", "object_id": str(n), "details": {"n": n, "label": "标签"}}


def _spread(tenant: Tenant, writers: int, rounds: int) -> None:
    """``rounds`` times, ``writers`` threads each append one event and wait for the others
    before committing: every round the writers hold ``writers`` stripes at once."""
    errors: list[BaseException] = []
    # The heads first: a tenant's first append creates them inside its own transaction,
    # where the others wait for it (once per tenant; create_tenant's event does it).
    ensure_chain_head(tenant)

    def write(barrier: threading.Barrier, n: int) -> None:
        try:
            with transaction.atomic():
                record_event(tenant=tenant, actor=SYSTEM, **_event(n))
                barrier.wait(timeout=10)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    for round_ in range(rounds):
        barrier = threading.Barrier(writers)
        threads = [
            threading.Thread(target=write, args=(barrier, round_ * writers + w))
            for w in range(writers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []


def _stripes(tenant: Tenant) -> dict[int, list[int]]:
    with tenant_scope(tenant):
        rows = AuditEvent.objects.order_by("stripe", "sequence").values_list("stripe", "sequence")
        out: dict[int, list[int]] = {}
        for stripe, sequence in rows:
            out.setdefault(stripe, []).append(sequence)
    return out


def _event_at(tenant: Tenant, stripe: int, sequence: int) -> AuditEvent:
    with tenant_scope(tenant):
        return AuditEvent.objects.get(stripe=stripe, sequence=sequence)


@contextmanager
def _triggers_disabled() -> Iterator[None]:
    """Tamper as a database owner could: the guards switched off."""
    guards = [
        ("audits_auditevent", "audits_auditevent_append_only"),
        ("audits_auditchainhead", "audits_auditchainhead_forward_only"),
    ]
    with connection.cursor() as cursor:
        for table, trigger in guards:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for table, trigger in guards:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")


def _sql(statement: str, params: list[Any]) -> None:
    with _triggers_disabled(), connection.cursor() as cursor:
        cursor.execute(statement, params)


# --- writers -------------------------------------------------------------------------------


def test_concurrent_writers_of_one_tenant_write_stripes_that_verify() -> None:
    tenant = TenantFactory()
    _spread(tenant, writers=4, rounds=5)
    stripes = _stripes(tenant)
    assert (sorted(stripes), verify_tenant_chain(tenant)) == ([0, 1, 2, 3], (20, None))
    assert all(sequences == list(range(1, 6)) for sequences in stripes.values())
    with tenant_scope(tenant):
        assert AuditChainHead.objects.filter(tenant=tenant).count() == CHAIN_STRIPES


@contextmanager
def _open_append(tenant: Tenant) -> Iterator[threading.Event]:
    """Another connection appends and keeps its transaction open until the block ends."""
    appended, release, errors = threading.Event(), threading.Event(), []

    def hold() -> None:
        try:
            with transaction.atomic():
                record_event(tenant=tenant, actor=SYSTEM, **_event(0))
                appended.set()
                release.wait(timeout=30)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
            appended.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert appended.wait(timeout=30)
        yield release
    finally:
        release.set()
        thread.join()
    assert errors == []


def test_a_writer_holding_its_transaction_open_does_not_stop_another() -> None:
    tenant = TenantFactory()
    ensure_chain_head(tenant)
    with _open_append(tenant):
        # Waiting for a lock at all fails this append: it must not wait.
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '50ms'")
            mine = record_event(tenant=tenant, actor=SYSTEM, **_event(1))
        assert (mine.stripe, mine.sequence) == (1, 1)  # stripe 0 is held by the other
    assert verify_tenant_chain(tenant) == (2, None)


def test_the_one_statement_append_does_not_wait_for_an_open_writer_either() -> None:
    tenant = TenantFactory()
    ensure_chain_head(tenant)
    with _open_append(tenant):
        chain = chained_append_sql(
            tenant, SYSTEM, [Event(action="test.event"), Event(action="test.event")], when="placed"
        )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '50ms'")
            # The CTEs of chained_append_sql; every value a parameter.
            statement = (
                f"WITH placed AS (SELECT 1 AS id){chain.ctes} "  # noqa: S608
                "SELECT json_agg(json_build_array(id, sequence, prev_hash, hash, stripe)) "
                f"FROM {chain.appended}"
            )
            cursor.execute(
                statement,
                chain.params,
            )
            rows = chain.finish(cursor.fetchone()[0])
        assert [(r.stripe, r.sequence) for r in rows] == [(1, 1), (1, 2)]
    assert verify_tenant_chain(tenant) == (3, None)


def test_a_writer_waits_only_when_every_stripe_is_taken() -> None:
    tenant = TenantFactory()
    ensure_chain_head(tenant)
    holder = connections.create_connection("default")
    try:
        with holder.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute(
                "SELECT 1 FROM audits_auditchainhead WHERE tenant_id = %s FOR UPDATE", [tenant.pk]
            )
        with pytest.raises(DatabaseError, match="lock timeout"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '50ms'")
            record_event(tenant=tenant, actor=SYSTEM, **_event(1))
    finally:
        holder.close()


# --- breaks in any stripe ------------------------------------------------------------------


@pytest.fixture
def striped() -> Tenant:
    """A tenant whose events fill stripes 0, 1 and 2 with four events each."""
    tenant = TenantFactory()
    _spread(tenant, writers=3, rounds=4)
    assert verify_tenant_chain(tenant) == (12, None)
    return tenant


def test_an_edited_event_in_a_later_stripe_is_found_and_named(striped: Tenant) -> None:
    target = _event_at(striped, 2, 3)
    _sql("UPDATE audits_auditevent SET purpose = 'forged' WHERE id = %s", [target.pk])
    count, broken = verify_tenant_chain(striped)
    assert broken is not None
    assert (broken.stripe, broken.sequence, broken.event_id, broken.reason) == (
        2,
        3,
        target.pk,
        "content does not match its hash (edited)",
    )
    assert str(broken).endswith(
        f"first broken link at sequence 3 of stripe 2 (event {target.pk}): "
        "content does not match its hash (edited)"
    )
    assert count == 4 + 4 + 2  # stripes 0 and 1, then two good events of stripe 2


def test_a_deleted_event_in_a_stripe_is_found(striped: Tenant) -> None:
    gone, after = _event_at(striped, 1, 2), _event_at(striped, 1, 3)
    _sql("DELETE FROM audits_auditevent WHERE id = %s", [gone.pk])
    _count, broken = verify_tenant_chain(striped)
    assert broken is not None
    assert (broken.stripe, broken.sequence, broken.event_id) == (1, 2, after.pk)
    assert "deleted or reordered" in broken.reason


def test_reordered_events_in_a_stripe_are_found(striped: Tenant) -> None:
    second, third = _event_at(striped, 1, 2), _event_at(striped, 1, 3)
    _sql("UPDATE audits_auditevent SET sequence = 1000 WHERE id = %s", [second.pk])
    _sql("UPDATE audits_auditevent SET sequence = 2 WHERE id = %s", [third.pk])
    _sql("UPDATE audits_auditevent SET sequence = 3 WHERE id = %s", [second.pk])
    _count, broken = verify_tenant_chain(striped)
    assert broken is not None
    assert (broken.stripe, broken.sequence) == (1, 2)


def test_a_truncated_stripe_tail_is_found_by_its_head(striped: Tenant) -> None:
    last = _event_at(striped, 2, 4)
    _sql("DELETE FROM audits_auditevent WHERE id = %s", [last.pk])
    _count, broken = verify_tenant_chain(striped)
    assert broken is not None
    assert (broken.stripe, broken.sequence, broken.event_id) == (2, 4, None)
    assert broken.reason.startswith("the chain head records sequence 4, the log ends at 3")


def test_an_edited_head_is_found(striped: Tenant) -> None:
    _sql(
        "UPDATE audits_auditchainhead SET hash = %s WHERE tenant_id = %s AND stripe = 5",
        ["f" * 64, striped.pk],
    )
    _count, broken = verify_tenant_chain(striped)
    assert broken is not None
    assert (broken.stripe, broken.sequence, broken.event_id) == (5, 1, None)
    assert "the chain head records sequence 0" in broken.reason


def test_an_event_moved_to_another_stripe_is_found(striped: Tenant) -> None:
    moved = _event_at(striped, 2, 4)
    _sql("UPDATE audits_auditevent SET stripe = 7, sequence = 1 WHERE id = %s", [moved.pk])
    _count, broken = verify_tenant_chain(striped)
    assert broken is not None
    assert broken.stripe == 2  # stripe 2 now ends short of its head


def test_a_whole_stripe_moved_is_found_by_its_genesis(striped: Tenant) -> None:
    _sql(
        "UPDATE audits_auditevent SET stripe = 9 WHERE tenant_id = %s AND stripe = 2",
        [striped.pk],
    )
    _sql(
        "UPDATE audits_auditchainhead SET sequence = CASE stripe WHEN 9 THEN 4 ELSE 0 END, "
        "hash = CASE stripe WHEN 9 THEN hash ELSE %s END "
        "WHERE tenant_id = %s AND stripe IN (2, 9)",
        [stripe_genesis(2), striped.pk],
    )
    _sql(
        "UPDATE audits_auditchainhead SET hash = (SELECT hash FROM audits_auditevent "
        "WHERE tenant_id = %s AND stripe = 9 AND sequence = 4) WHERE tenant_id = %s AND stripe = 9",
        [striped.pk, striped.pk],
    )
    _count, broken = verify_tenant_chain(striped)
    assert broken is not None
    assert (broken.stripe, broken.sequence) == (9, 1)
    assert "previous-hash link" in broken.reason


def test_a_removed_head_is_found(striped: Tenant) -> None:
    _sql("DELETE FROM audits_auditchainhead WHERE tenant_id = %s AND stripe = 2", [striped.pk])
    _count, broken = verify_tenant_chain(striped)
    assert broken is not None
    assert (broken.stripe, broken.reason) == (
        2,
        "the chain heads of stripes [2] are missing (a stripe was removed)",
    )


def test_the_head_moves_only_forward() -> None:
    tenant = TenantFactory()
    record_event(tenant=tenant, actor=SYSTEM, **_event(1))
    with pytest.raises(DatabaseError, match="only moves forward"), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audits_auditchainhead SET sequence = 0 WHERE tenant_id = %s AND stripe = 0",
            [tenant.pk],
        )
    with pytest.raises(DatabaseError, match="never deleted"), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audits_auditchainhead WHERE tenant_id = %s", [tenant.pk])


# --- anchoring -----------------------------------------------------------------------------


def test_the_anchor_covers_every_stripe(striped: Tenant) -> None:
    anchor = anchor_chain_head(
        tenant=striped, now=dt.datetime(2026, 11, 30, 12, 15, tzinfo=dt.UTC)
    ).anchor
    with tenant_scope(striped):
        heads = list(AuditChainHead.objects.order_by("stripe").values_list("sequence", "hash"))
    assert (anchor.sequence, anchor.stripes) == (12, [[s, h] for s, h in heads])
    assert len(anchor.stripes) == CHAIN_STRIPES
    # Stripe 2 rewritten consistently (hashes and head recomputed): the chain verifies
    # alone, the anchor does not.
    events = []
    with tenant_scope(striped):
        events = list(AuditEvent.objects.filter(stripe=2).order_by("sequence"))
    previous = stripe_genesis(2)
    for event in events:
        values = {name: getattr(event, name) for name in CHAINED_FIELDS}
        values["details"] = {**event.details, "label": "rewritten"}
        values["prev_hash"] = previous
        previous = event_hash(values)
        _sql(
            "UPDATE audits_auditevent SET details = %s, prev_hash = %s, hash = %s WHERE id = %s",
            [json.dumps(values["details"]), values["prev_hash"], previous, event.pk],
        )
    _sql(
        "UPDATE audits_auditchainhead SET hash = %s WHERE tenant_id = %s AND stripe = 2",
        [previous, striped.pk],
    )
    assert verify_tenant_chain(striped) == (12, None)
    with tenant_scope(striped):
        now = dict(AuditChainHead.objects.values_list("stripe", "sequence"))
    report = check_anchors(striped, head_sequence=now)
    assert report.problems[0].startswith(
        "the event at sequence 4 of stripe 2 does not have the hash anchored"
    )


# --- the migration -------------------------------------------------------------------------


def test_the_migration_keeps_a_chain_from_before_stripes_verifiable() -> None:
    tenant = TenantFactory()
    executor = MigrationExecutor(connection)
    before = [("audits", "0012_person_access_index")]
    latest = executor.loader.graph.leaf_nodes("audits")
    executor.migrate(before)
    try:
        previous, now = "0" * 64, dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
        with connection.cursor() as cursor:
            for sequence in range(1, 6):
                values = {
                    "tenant_id": tenant.pk,
                    "sequence": sequence,
                    "occurred_at": now + dt.timedelta(seconds=sequence),
                    "actor": "system:tests",
                    "action": "test.event",
                    "object_type": "",
                    "object_id": str(sequence),
                    "fields": [],
                    "purpose": "",
                    "request_id": uuid.uuid4().hex,
                    "ip": None,
                    "details": {"n": sequence},
                    "prev_hash": previous,
                }
                digest = event_hash(values)
                cursor.execute(
                    f"INSERT INTO audits_auditevent ({', '.join(CHAINED_FIELDS)}, hash) "  # noqa: S608
                    f"VALUES ({', '.join(['%s'] * (len(CHAINED_FIELDS) + 1))})",
                    [
                        json.dumps(values[n]) if n in ("fields", "details") else values[n]
                        for n in CHAINED_FIELDS
                    ]
                    + [digest],
                )
                previous = digest
            cursor.execute(
                "INSERT INTO audits_auditchainhead (tenant_id, sequence, hash) VALUES (%s, 5, %s)",
                [tenant.pk, previous],
            )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(latest)
    assert verify_tenant_chain(tenant) == (5, None)
    assert sorted(_stripes(tenant)) == [0]
    with tenant_scope(tenant):
        heads = dict(AuditChainHead.objects.values_list("stripe", "sequence"))
    assert heads == {stripe: 5 if stripe == 0 else 0 for stripe in range(CHAIN_STRIPES)}
    appended = record_event(tenant=tenant, actor=SYSTEM, **_event(6))
    assert (appended.stripe, appended.sequence, appended.prev_hash) == (0, 6, previous)
    assert verify_tenant_chain(tenant) == (6, None)


# --- parallel verification -----------------------------------------------------------------


def _seed(tenant: Tenant, events: int) -> None:
    """``events`` events round-robin over every stripe, with real hashes, heads moved."""
    ensure_chain_head(tenant)
    ends = {s: (0, stripe_genesis(s)) for s in range(CHAIN_STRIPES)}
    now = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    columns = ("stripe", *CHAINED_FIELDS, "hash")
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY audits_auditevent ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for n in range(events):
            stripe = n % CHAIN_STRIPES
            sequence, previous = ends[stripe]
            values = {
                "tenant_id": tenant.pk,
                "sequence": sequence + 1,
                "occurred_at": now + dt.timedelta(microseconds=n),
                "actor": "user:42",
                "action": "privacy.reveal",
                "object_type": "orders.order",
                "object_id": str(n),
                "fields": ["phone"],
                "purpose": "customer_service_call",
                "request_id": "",
                "ip": "2001:db8::42" if n % 2 else None,
                "details": {"masked": "138****5678", "名": "值", "n": n},
                "prev_hash": previous,
            }
            digest = event_hash(values)
            copy.write_row(
                [stripe]
                + [
                    json.dumps(values[k], ensure_ascii=False)
                    if k in ("fields", "details")
                    else values[k]
                    for k in CHAINED_FIELDS
                ]
                + [digest]
            )
            ends[stripe] = (sequence + 1, digest)
    with connection.cursor() as cursor:
        for stripe, (sequence, digest) in ends.items():
            cursor.execute(
                "UPDATE audits_auditchainhead SET sequence = %s, hash = %s "
                "WHERE tenant_id = %s AND stripe = %s",
                [sequence, digest, tenant.pk, stripe],
            )


@pytest.fixture
def seeded() -> Tenant:
    tenant = TenantFactory()
    _seed(tenant, 16 * 40)  # 40 events per stripe: ranges of 10 make 4 a stripe
    return tenant


def test_parallel_verification_agrees_with_the_serial_one(seeded: Tenant) -> None:
    assert verify_parallel(seeded, workers=2, size=10) == (640, None)
    assert verify_tenant_chain(seeded) == (640, None)


def test_parallel_verification_finds_a_break_inside_a_middle_range(seeded: Tenant) -> None:
    target = _event_at(seeded, 3, 15)  # the second range of stripe 3 (11..20)
    _sql("UPDATE audits_auditevent SET object_id = 'x' WHERE id = %s", [target.pk])
    broken = verify_parallel(seeded, workers=2, size=10)[1]
    assert broken is not None
    assert (broken.stripe, broken.sequence, broken.event_id) == (3, 15, target.pk)
    assert broken == verify_tenant_chain(seeded)[1]


def test_parallel_verification_finds_a_deleted_event_at_a_range_boundary(seeded: Tenant) -> None:
    first, after = _event_at(seeded, 4, 21), _event_at(seeded, 4, 22)  # range 21..30 starts
    _sql("DELETE FROM audits_auditevent WHERE id = %s", [first.pk])
    broken = verify_parallel(seeded, workers=2, size=10)[1]
    assert broken is not None
    assert (broken.stripe, broken.sequence, broken.event_id) == (4, 21, after.pk)
    assert broken == verify_tenant_chain(seeded)[1]


def test_parallel_verification_finds_the_last_event_of_a_range_deleted(seeded: Tenant) -> None:
    last, after = _event_at(seeded, 4, 20), _event_at(seeded, 4, 21)  # range 11..20 ends
    _sql("DELETE FROM audits_auditevent WHERE id = %s", [last.pk])
    broken = verify_parallel(seeded, workers=2, size=10)[1]
    assert broken is not None
    assert (broken.stripe, broken.sequence, broken.event_id) == (4, 20, after.pk)
    assert broken == verify_tenant_chain(seeded)[1]


def test_parallel_verification_finds_a_broken_link_between_ranges(seeded: Tenant) -> None:
    target = _event_at(seeded, 6, 31)  # first of range 31..40: its link names range 21..30
    _sql("UPDATE audits_auditevent SET prev_hash = %s WHERE id = %s", ["e" * 64, target.pk])
    broken = verify_parallel(seeded, workers=2, size=10)[1]
    assert broken is not None
    assert (broken.stripe, broken.sequence, broken.event_id) == (6, 31, target.pk)
    assert "previous-hash link" in broken.reason


def test_parallel_verification_finds_a_truncated_tail_and_stray_events(seeded: Tenant) -> None:
    last = _event_at(seeded, 15, 40)
    _sql("DELETE FROM audits_auditevent WHERE id = %s", [last.pk])
    broken = verify_parallel(seeded, workers=2, size=10)[1]
    assert broken is not None
    assert (broken.stripe, broken.sequence, broken.event_id) == (15, 40, None)


def test_the_bench_floor_reads_every_range_verification_reads_and_checks_nothing(
    seeded: Tenant,
) -> None:
    # bench/audit_chain.py compares verification with reading the same rows alone.
    assert read_parallel(seeded, workers=2, size=10) == 640
    _sql("UPDATE audits_auditevent SET object_id = 'x' WHERE id = %s", [_event_at(seeded, 2, 5).pk])
    assert read_parallel(seeded, workers=2, size=10) == 640
    assert verify_parallel(seeded, workers=2, size=10)[1] is not None


def test_ranges_cover_every_sequence_with_open_ends() -> None:
    parts = plan_ranges({0: (25, "h"), 1: (0, "g")}, 10)
    assert [(p.stripe, p.low, p.high) for p in parts] == [
        (0, None, 10),
        (0, 11, 20),
        (0, 21, None),
        (1, None, None),
    ]
    assert join_ranges(1, {}, []) == (0, None)
