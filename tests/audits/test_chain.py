"""The audit log is one hash chain per tenant: appends never fork it, and verification finds
the first edited, deleted or reordered event."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction

from audits.models import GENESIS_HASH, AuditEvent
from audits.services import record_event
from audits.verification import verify_tenant_chain
from tenants.actors import SystemActor
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tests.factories import TenantFactory

SYSTEM = SystemActor("tests")
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the append-only trigger exists on PostgreSQL only"
)


def _append(tenant: Tenant, count: int) -> list[AuditEvent]:
    return [
        record_event(
            tenant=tenant,
            actor=SYSTEM,
            action="test.event",
            object_id=str(n),
            details={"n": n, "label": "标签"},
        )
        for n in range(count)
    ]


@contextmanager
def _trigger_disabled() -> Iterator[None]:
    """Tamper the way a database owner could: with the append-only trigger switched off."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Django's foreign keys are deferred; ALTER TABLE needs them checked first.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(
                "ALTER TABLE audits_auditevent DISABLE TRIGGER audits_auditevent_append_only"
            )
    try:
        yield
    finally:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(
                    "ALTER TABLE audits_auditevent ENABLE TRIGGER audits_auditevent_append_only"
                )


def _sql(statement: str, params: list[object]) -> None:
    with _trigger_disabled(), connection.cursor() as cursor:
        cursor.execute(statement, params)


@pytest.mark.django_db
def test_events_form_an_intact_chain() -> None:
    tenant = TenantFactory()
    events = _append(tenant, 5)
    assert (verify_tenant_chain(tenant), events[0].prev_hash, events[1].prev_hash) == (
        (5, None),
        GENESIS_HASH,
        events[0].hash,
    )


@pytest.mark.django_db
def test_each_tenant_has_its_own_chain() -> None:
    first, second = TenantFactory(), TenantFactory()
    _append(first, 2)
    event = _append(second, 1)[0]
    assert (event.sequence, event.prev_hash) == (1, GENESIS_HASH)


@pytest.mark.django_db
def test_an_edited_event_is_the_first_broken_link() -> None:
    tenant = TenantFactory()
    events = _append(tenant, 5)
    _sql("UPDATE audits_auditevent SET action = %s WHERE id = %s", ["test.forged", events[2].pk])
    count, chain_break = verify_tenant_chain(tenant)
    assert (count, chain_break.sequence, chain_break.reason) == (
        2,
        3,
        "content does not match its hash (edited)",
    )


@pytest.mark.django_db
def test_a_deleted_event_is_detected() -> None:
    tenant = TenantFactory()
    events = _append(tenant, 5)
    _sql("DELETE FROM audits_auditevent WHERE id = %s", [events[1].pk])
    _, chain_break = verify_tenant_chain(tenant)
    assert (chain_break.sequence, chain_break.event_id) == (2, events[2].pk)


@pytest.mark.django_db
def test_reordered_events_are_detected() -> None:
    tenant = TenantFactory()
    events = _append(tenant, 5)
    with transaction.atomic():
        _sql("UPDATE audits_auditevent SET sequence = 0 WHERE id = %s", [events[1].pk])
        _sql("UPDATE audits_auditevent SET sequence = 2 WHERE id = %s", [events[2].pk])
        _sql("UPDATE audits_auditevent SET sequence = 3 WHERE id = %s", [events[1].pk])
    _, chain_break = verify_tenant_chain(tenant)
    assert (chain_break.sequence, chain_break.event_id) == (2, events[2].pk)


@pytest.mark.django_db
def test_removing_the_newest_events_is_detected_by_the_chain_head() -> None:
    tenant = TenantFactory()
    events = _append(tenant, 4)
    _sql("DELETE FROM audits_auditevent WHERE id = %s", [events[3].pk])
    _, chain_break = verify_tenant_chain(tenant)
    assert (chain_break.sequence, chain_break.event_id) == (4, None)


@pytest.mark.django_db
def test_a_recomputed_forgery_still_breaks_at_the_chain_head() -> None:
    tenant = TenantFactory()
    events = _append(tenant, 3)
    _sql("DELETE FROM audits_auditevent WHERE id = %s", [events[2].pk])
    _, chain_break = verify_tenant_chain(tenant)
    assert "newest events were removed" in chain_break.reason


@on_postgresql
@pytest.mark.django_db
def test_the_database_rejects_updates_of_events() -> None:
    event = _append(TenantFactory(), 1)[0]
    with (
        pytest.raises(DatabaseError, match="audit events are append-only: UPDATE"),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE audits_auditevent SET action = 'x' WHERE id = %s", [event.pk])


@on_postgresql
@pytest.mark.django_db
def test_the_database_rejects_deletes_of_events() -> None:
    event = _append(TenantFactory(), 1)[0]
    with (
        pytest.raises(DatabaseError, match="audit events are append-only: DELETE"),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM audits_auditevent WHERE id = %s", [event.pk])


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain() -> None:
    tenant = TenantFactory()
    writers, per_writer, errors = 4, 25, []
    barrier = threading.Barrier(writers)

    def write() -> None:
        try:
            barrier.wait()
            _append(tenant, per_writer)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with tenant_scope(tenant):
        rows = AuditEvent.objects.order_by("stripe", "sequence").values_list("stripe", "sequence")
        stripes: dict[int, list[int]] = {}
        for stripe, sequence in rows:
            stripes.setdefault(stripe, []).append(sequence)
    # Each stripe the writers used is one gapless chain (decision 0019).
    assert (errors, verify_tenant_chain(tenant)) == ([], (writers * per_writer, None))
    assert {s: list(range(1, len(q) + 1)) for s, q in stripes.items()} == stripes


@pytest.mark.django_db
def test_verify_command_reports_intact_chains() -> None:
    tenant = TenantFactory(slug="acme")
    _append(tenant, 3)
    out = io.StringIO()
    call_command("verify_audit_chain", "--tenant", "acme", stdout=out)
    assert out.getvalue().startswith("acme: 3 events, chain intact")


@pytest.mark.django_db
def test_verify_command_fails_on_a_broken_chain_and_names_the_link() -> None:
    tenant = TenantFactory(slug="acme")
    events = _append(tenant, 3)
    _sql("UPDATE audits_auditevent SET purpose = %s WHERE id = %s", ["forged", events[1].pk])
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 tenant chain\\(s\\) broken."):
        call_command("verify_audit_chain", stderr=err)
    assert err.getvalue().strip() == (
        f"acme: BROKEN after 1 good events: tenant {tenant.pk}: first broken link at sequence 2 of stripe 0 "
        f"(event {events[1].pk}): content does not match its hash (edited)"
    )


@pytest.mark.django_db
def test_verify_command_refuses_an_unknown_tenant() -> None:
    with pytest.raises(CommandError, match="No tenant with slug 'nope'."):
        call_command("verify_audit_chain", "--tenant", "nope")


@pytest.mark.django_db
@pytest.mark.parametrize("instances", [True, False], ids=["rows", "values-only"])
def test_a_batch_append_chains_every_event_and_stores_what_was_hashed(instances) -> None:
    """Both ways of appending a large batch: events returned as rows, or (the retention
    sweep's) copied from their values with no row built and nothing returned."""
    from audits.services import Event, record_events
    from tenants.bulk import COPY_THRESHOLD

    tenant = TenantFactory()
    _append(tenant, 2)
    count = COPY_THRESHOLD + 20  # large enough for the COPY path on PostgreSQL
    returned = record_events(
        tenant=tenant,
        actor=SYSTEM,
        events=[
            Event(
                action="test.batch",
                object_id=str(n),
                fields=["b", "a"],
                details={"n": n, "名": "值"},
            )
            for n in range(count)
        ],
        instances=instances,
    )
    if instances:
        assert [(e.sequence, e.object_id) for e in returned[:2]] == [(3, "0"), (4, "1")]
    else:
        assert returned is None
    _append(tenant, 1)  # a single append continues the batch's chain
    with tenant_scope(tenant):
        stored = list(AuditEvent.objects.filter(action="test.batch").order_by("sequence"))
    assert verify_tenant_chain(tenant) == (count + 3, None)
    assert [(e.sequence, e.object_id, e.fields, e.details) for e in stored[:2]] == [
        (3, "0", ["a", "b"], {"n": 0, "名": "值"}),
        (4, "1", ["a", "b"], {"n": 1, "名": "值"}),
    ]


@pytest.mark.django_db
def test_a_batch_append_outside_the_tenant_scope_of_its_rows_writes_nothing() -> None:
    from audits.services import record_events
    from tenants.bulk import append_rows
    from tenants.scoping import ScopeError

    ours, other = TenantFactory(), TenantFactory()
    rows = [
        AuditEvent(tenant=other, sequence=n + 1, action="x", prev_hash="0", hash="0")
        for n in range(150)
    ]
    with tenant_scope(ours), pytest.raises(ScopeError):
        append_rows(AuditEvent, rows, ("tenant", "sequence", "action", "prev_hash", "hash"))
    assert record_events(tenant=ours, actor=SYSTEM, events=[]) == []
    assert record_events(tenant=ours, actor=SYSTEM, events=[], instances=False) is None
    with tenant_scope(other):
        assert AuditEvent.objects.filter(action="x").count() == 0


@pytest.mark.django_db
def test_rows_copied_from_values_must_belong_to_the_active_tenant_scope() -> None:
    from tenants.bulk import copy_values
    from tenants.scoping import ScopeError

    ours, other = TenantFactory(), TenantFactory()
    fields = ("tenant", "sequence", "action", "prev_hash", "hash")

    def rows(tenant: Tenant) -> list[dict]:
        return [
            {
                "tenant_id": tenant.pk,
                "sequence": n + 1,
                "action": "x",
                "prev_hash": "0",
                "hash": "0",
            }
            for n in range(150)
        ]

    mixed = rows(ours)[:-1] + rows(other)[-1:]  # one row of another tenant, the last
    with tenant_scope(ours), pytest.raises(ScopeError):
        copy_values(AuditEvent, fields, mixed)
    with pytest.raises(ScopeError):
        copy_values(AuditEvent, fields, rows(ours))  # no scope at all
    for tenant in (ours, other):
        with tenant_scope(tenant):
            assert AuditEvent.objects.filter(action="x").count() == 0


@pytest.mark.django_db
def test_events_recorded_in_a_batch_are_appended_together_when_it_ends() -> None:
    from audits.services import batched_events

    tenant, other = TenantFactory(), TenantFactory()
    with transaction.atomic(), batched_events():
        first = record_event(tenant=tenant, actor=SYSTEM, action="test.one")
        record_event(tenant=other, actor=SystemActor("other"), action="test.elsewhere")
        record_event(tenant=tenant, actor=SYSTEM, action="test.two")
        with tenant_scope(tenant):
            assert AuditEvent.objects.count() == 0  # nothing appended yet
    with tenant_scope(tenant):
        ours = list(AuditEvent.objects.order_by("sequence").values_list("action", "actor"))
    with tenant_scope(other):
        theirs = list(AuditEvent.objects.values_list("action", "actor"))
    assert (ours, theirs, first.sequence, first.pk is not None) == (
        [("test.one", "system:tests"), ("test.two", "system:tests")],
        [("test.elsewhere", "system:other")],
        1,
        True,
    )
    assert verify_tenant_chain(tenant) == (2, None)


@pytest.mark.django_db
def test_a_batch_that_raises_appends_nothing() -> None:
    from audits.services import batched_events

    tenant = TenantFactory()
    with pytest.raises(ZeroDivisionError), transaction.atomic(), batched_events():
        record_event(tenant=tenant, actor=SYSTEM, action="test.lost")
        1 / 0  # noqa: B018
    record_event(tenant=tenant, actor=SYSTEM, action="test.kept")
    with tenant_scope(tenant):
        assert list(AuditEvent.objects.values_list("action", "sequence")) == [("test.kept", 1)]


@pytest.mark.parametrize(
    "details",
    [{}, {"名": "值", "b": [1, 2, {"c": None}], "a": True}, {"q": 'say "hi"\\ \n\t\u0001 🍜'}],
)
@pytest.mark.parametrize("ip", [None, "203.0.113.7", "2001:db8::42"])
@pytest.mark.django_db
def test_the_text_digest_writes_the_same_bytes_as_the_canonical_encoding(details, ip) -> None:
    import json
    from datetime import UTC, datetime

    from audits.chain import _canonical_time, _text_digest, event_hash, payload_parts

    when = datetime(2026, 11, 29, 10, 0, 0, 123, tzinfo=UTC)
    values = {
        "tenant_id": 7,
        "sequence": 12,
        "occurred_at": when,
        "actor": "user:4",
        "action": "privacy.reveal",
        "object_type": "orders.order",
        "object_id": "a-b",
        "fields": ["address", "phone"],
        "purpose": "customer_service_call",
        "request_id": "r\u00e9q",
        "ip": ip,
        "details": details,
        "prev_hash": "f" * 64,
    }
    middle = [
        values["actor"],
        values["action"],
        values["object_type"],
        values["object_id"],
        json.dumps(values["fields"]),  # as PostgreSQL hands jsonb over: any spacing, order
        values["purpose"],
        values["request_id"],
        ip,
        json.dumps(details, indent=1, ensure_ascii=True),
    ]
    text = _text_digest(7, 12, _canonical_time(when), middle, "f" * 64)
    assert text == event_hash(values)
    # And the parts around the sequence that the database hashes when it chains events
    # itself (intake on PostgreSQL): the same text, so the same hash.
    prefix, rest = payload_parts(values)
    assert prefix + "12" + rest + json.dumps("f" * 64) + "]" == json.dumps(
        [_canonical_time(v) if k == "occurred_at" else v for k, v in values.items()],
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    if connection.vendor == "postgresql":
        from django.db import connections

        with connections["default"].cursor() as cursor:
            cursor.execute(
                "SELECT encode(sha256(convert_to(%s || (%s + 1)::text || %s || '\"' || %s "
                "|| '\"]', 'UTF8')), 'hex')",
                [prefix, 11, rest, "f" * 64],
            )
            assert cursor.fetchone()[0] == event_hash(values)


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the text path is PostgreSQL's")
def test_postgresql_text_verification_agrees_with_the_orm_path_and_finds_edits() -> None:
    from audits.chain import CHAINED_FIELDS, verify_rows
    from audits.context import RequestContext, request_context

    tenant = TenantFactory()
    for n, (ip, details) in enumerate(
        [(None, {}), ("203.0.113.7", {"名": "值", "n": 3}), ("2001:db8::42", {"x": [1, None]})]
    ):
        with request_context(RequestContext(request_id=f"r{n}", ip=ip)):
            record_event(
                tenant=tenant, actor=SYSTEM, action="test.mixed", fields=["phone"], details=details
            )
    with tenant_scope(tenant):
        orm_rows = AuditEvent.objects.order_by("sequence").values_list(
            "id", "hash", *CHAINED_FIELDS[1:]
        )
        assert verify_rows(tenant.pk, list(orm_rows), None) == (3, None)
    assert verify_tenant_chain(tenant) == (3, None)
    with tenant_scope(tenant):
        second = AuditEvent.objects.get(sequence=2)
    _sql(
        "UPDATE audits_auditevent SET details = %s::jsonb WHERE id = %s",
        ['{"名": "改", "n": 3}', second.pk],
    )
    count, broken = verify_tenant_chain(tenant)
    assert (count, broken.sequence, "edited" in broken.reason) == (1, 2, True)


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the text path is PostgreSQL's")
def test_verification_reads_ahead_across_batches_and_stops_cleanly_at_a_break(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from audits import verification

    def open_cursors() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM pg_cursors WHERE name LIKE 'verify_chain_%%'")
            return [row[0] for row in cursor.fetchall()]

    def read_ahead_threads() -> list[str]:
        return [t.name for t in threading.enumerate() if t.name.startswith("verify-read-ahead")]

    monkeypatch.setattr(verification, "BATCH", 2)
    tenant = TenantFactory()
    events = _append(tenant, 7)  # four batches: 2, 2, 2, 1
    assert verify_tenant_chain(tenant) == (7, None)
    _sql("UPDATE audits_auditevent SET object_id = %s WHERE id = %s", ["forged", events[4].pk])
    # What is left open at the moment verification's transaction (here a savepoint inside
    # the test's) ends: the cursor and the read-ahead thread must be gone by then.
    at_end: list[tuple[list[str], list[str]]] = []

    def watch(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        if sql.startswith("RELEASE SAVEPOINT") and not at_end:
            at_end.append((open_cursors(), read_ahead_threads()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        count, broken = verify_tenant_chain(tenant)
    # The break is in the third batch; the fourth was being read ahead when it was found.
    assert (count, broken.sequence, broken.event_id) == (4, 5, events[4].pk)
    assert at_end == [([], [])]
    # The connection is left usable.
    assert verify_tenant_chain(tenant)[0] == 4


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the text path is PostgreSQL's")
def test_a_failed_read_ahead_is_raised_not_dropped_when_a_break_stops_the_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import psycopg

    from audits import verification

    monkeypatch.setattr(verification, "BATCH", 2)
    tenant = TenantFactory()
    events = _append(tenant, 7)
    _sql("UPDATE audits_auditevent SET object_id = %s WHERE id = %s", ["forged", events[2].pk])
    fetchmany, calls = psycopg.ServerCursor.fetchmany, []

    def failing_third(cursor, size=0):  # type: ignore[no-untyped-def]
        calls.append(size)
        if len(calls) == 3:  # the read-ahead under way when the break (event 3) is found
            raise psycopg.OperationalError("the server went away")
        return fetchmany(cursor, size)

    monkeypatch.setattr(psycopg.ServerCursor, "fetchmany", failing_third)
    with pytest.raises(psycopg.OperationalError, match="went away"):
        verify_tenant_chain(tenant)
    monkeypatch.setattr(psycopg.ServerCursor, "fetchmany", fetchmany)
    count, broken = verify_tenant_chain(tenant)
    assert (count, broken.sequence) == (2, 3)
