"""The anchoring jobs: the hourly anchor of every tenant's chain head and the nightly
verification, recorded, audited and notified when a chain is broken (issue 20, point 5)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone

from audits.anchoring import anchor_chain_head, hour_of
from audits.chain import event_hash
from audits.integrity import CHAIN_BROKEN, verify_and_record
from audits.models import AuditEvent, ChainAnchor, ChainVerification
from audits.services import record_event
from audits.tasks import anchor_audit_chains, anchor_tenant_chain, verify_audit_chains
from tenants.actors import SystemActor
from tenants.models import Notification, Role, ScheduledRun, Tenant
from tenants.notifications import message_of
from tenants.scheduling import period_start
from tenants.scoping import tenant_scope
from tests.audits.test_anchoring import trigger_disabled
from tests.factories import TenantFactory, UserFactory

SYSTEM = SystemActor("tests")
NIGHT = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
NOON = dt.datetime(2026, 11, 30, 12, 15, tzinfo=dt.UTC)


def _append(tenant: Tenant, count: int) -> None:
    for n in range(count):
        record_event(tenant=tenant, actor=SYSTEM, action="test.event", details={"n": n})


def _edit_last_event_and_rehash(tenant: Tenant) -> None:
    """The newest event rewritten with its hash and the head recomputed (a consistent
    chain, as an attacker with database write access could leave it)."""
    with tenant_scope(tenant):
        event = AuditEvent.objects.order_by("-sequence").first()
    assert event is not None
    values = {
        "tenant_id": tenant.pk,
        "sequence": event.sequence,
        "occurred_at": event.occurred_at,
        "actor": event.actor,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "fields": event.fields,
        "purpose": event.purpose,
        "request_id": event.request_id,
        "ip": event.ip,
        "details": {"n": 999},
        "prev_hash": event.prev_hash,
    }
    new_hash = event_hash(values)
    with trigger_disabled(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audits_auditevent SET details = %s, hash = %s WHERE id = %s",
            [json.dumps({"n": 999}), new_hash, event.pk],
        )
        cursor.execute(
            "UPDATE audits_auditchainhead SET hash = %s WHERE tenant_id = %s AND stripe = 0",
            [new_hash, tenant.pk],
        )


def _actions(tenant: Tenant) -> list[str]:
    with tenant_scope(tenant):
        return list(
            AuditEvent.objects.filter(action__startswith="anchors.")
            .order_by("sequence")
            .values_list("action", flat=True)
        )


# --- the nightly verification --------------------------------------------------------------


@pytest.mark.django_db
def test_the_nightly_verification_records_an_intact_chain() -> None:
    tenant = TenantFactory()
    _append(tenant, 3)
    anchor_chain_head(tenant=tenant, now=NOON)
    run, created = verify_and_record(tenant=tenant, period=NIGHT)
    assert (
        created,
        run.ok,
        run.events_checked,
        run.anchors_checked,
        run.anchors_failed,
        run.first_break,
        run.started_at <= run.finished_at,
    ) == (True, True, 3, 1, 0, "", True)


@pytest.mark.django_db
def test_the_nightly_verification_of_an_intact_chain_is_audited() -> None:
    tenant = TenantFactory()
    _append(tenant, 2)
    run, _ = verify_and_record(tenant=tenant, period=NIGHT)
    with tenant_scope(tenant):
        event = AuditEvent.objects.get(action="anchors.chain_verified")
    assert (event.actor, event.object_id, event.details) == (
        "system:chain-verification",
        str(run.pk),
        {"verification": run.pk, "events": 2, "anchors": 0},
    )


@pytest.mark.django_db
def test_the_nightly_verification_records_a_rewritten_chain_as_broken() -> None:
    tenant = TenantFactory()
    _append(tenant, 3)
    anchor_chain_head(tenant=tenant, now=NOON)
    _edit_last_event_and_rehash(tenant)
    run, _ = verify_and_record(tenant=tenant, period=NIGHT)
    assert (run.ok, run.events_checked, run.anchors_failed, run.first_break) == (
        False,
        3,
        1,
        "the event at sequence 3 does not have the hash anchored "
        "2026-11-30T12:15:00.000000+00:00: the chain was rewritten",
    )


@pytest.mark.django_db
def test_a_broken_chain_is_audited_as_broken() -> None:
    tenant = TenantFactory()
    _append(tenant, 3)
    anchor_chain_head(tenant=tenant, now=NOON)
    _edit_last_event_and_rehash(tenant)
    run, _ = verify_and_record(tenant=tenant, period=NIGHT)
    with tenant_scope(tenant):
        event = AuditEvent.objects.get(action="anchors.chain_broken")
    assert event.details == {
        "verification": run.pk,
        "events": 3,
        "anchors": 1,
        "anchors_failed": 1,
        "sequence": 3,
    }


@pytest.mark.django_db
def test_a_broken_chain_notifies_the_privacy_officers_and_supervisors_only() -> None:
    tenant = TenantFactory()
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    supervisor = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    _append(tenant, 3)
    anchor_chain_head(tenant=tenant, now=NOON)
    _edit_last_event_and_rehash(tenant)
    verify_and_record(tenant=tenant, period=NIGHT)
    with tenant_scope(tenant):
        notified = sorted(
            Notification.objects.filter(kind=CHAIN_BROKEN).values_list("user_id", flat=True)
        )
        message = message_of(Notification.objects.filter(kind=CHAIN_BROKEN).first())
    assert (notified, message) == (
        sorted([officer.pk, supervisor.pk]),
        "The audit chain's verification found a break (sequence 3): the log may have been altered.",
    )


@pytest.mark.django_db
def test_an_intact_chain_notifies_nobody() -> None:
    tenant = TenantFactory()
    UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    _append(tenant, 1)
    verify_and_record(tenant=tenant, period=NIGHT)
    with tenant_scope(tenant):
        assert Notification.objects.filter(kind=CHAIN_BROKEN).count() == 0


@pytest.mark.django_db
def test_the_nightly_verification_runs_once_per_tenant_and_night() -> None:
    tenant = TenantFactory()
    _append(tenant, 1)
    first, _ = verify_and_record(tenant=tenant, period=NIGHT)
    second, created = verify_and_record(tenant=tenant, period=NIGHT)
    with tenant_scope(tenant):
        count = ChainVerification.objects.count()
    assert (second.pk, created, count, _actions(tenant)) == (
        first.pk,
        False,
        1,
        ["anchors.chain_verified"],
    )


# --- the tasks, called directly --------------------------------------------------------------


@pytest.mark.django_db
def test_the_tenant_anchor_task_anchors_once_per_hour_when_run_twice() -> None:
    tenant = TenantFactory()
    _append(tenant, 2)
    hour = int(hour_of(NOON).timestamp())
    results = [anchor_tenant_chain(tenant.pk, hour) for _ in range(2)]
    with tenant_scope(tenant):
        anchors = list(ChainAnchor.objects.values_list("hour", "sequence"))
    assert (results, anchors) == (
        [{"sequence": 2, "created": True}, {"sequence": 2, "created": False}],
        [(hour_of(NOON), 2)],
    )


@pytest.mark.django_db
def test_the_tenant_anchor_task_takes_ids_only() -> None:
    with pytest.raises(TypeError, match="the first argument must be the tenant's id"):
        anchor_tenant_chain.apply_async(args=["acme", 0])


# --- concurrency and a real worker (PostgreSQL, Redis) ----------------------------------------

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks and a real worker need PostgreSQL"
)


@needs_postgresql
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_two_anchoring_runs_at_once_write_one_anchor() -> None:
    tenant = TenantFactory()
    _append(tenant, 2)
    barrier = threading.Barrier(2)
    created: list[bool] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            created.append(anchor_chain_head(tenant=tenant, now=NOON).created)
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = (Path(settings.BAOMI_ANCHOR_DIR) / f"tenant-{tenant.pk}.jsonl").read_text()
    assert (errors, sorted(created), _count(ChainAnchor, tenant), len(lines.splitlines())) == (
        [],
        [False, True],
        1,
        1,
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are PostgreSQL's")
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_a_run_that_finds_the_hour_being_written_leaves_it() -> None:
    """Deterministic form of the race above: the hour is claimed and its writer holds the
    row (between its claim and its sinks); a second run writes nothing and says so."""
    tenant = TenantFactory()
    _append(tenant, 2)
    first = anchor_chain_head(tenant=tenant, now=NOON).anchor
    with tenant_scope(tenant):  # as if that run had stopped right after claiming
        ChainAnchor.objects.filter(pk=first.pk).update(sinks_written=[], sinks_failed=[])
    path = Path(settings.BAOMI_ANCHOR_DIR) / f"tenant-{tenant.pk}.jsonl"
    path.unlink()
    held, release = threading.Event(), threading.Event()

    def writer() -> None:
        try:
            with tenant_scope(tenant), transaction.atomic():
                ChainAnchor.objects.select_for_update().get(pk=first.pk)
                held.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=writer)
    thread.start()
    assert held.wait(10)
    try:
        result = anchor_chain_head(tenant=tenant, now=NOON)
    finally:
        release.set()
        thread.join()
    assert (result.created, path.exists()) == (False, False)
    # Once the writer is gone without writing (a lost worker), the next run finishes it.
    assert anchor_chain_head(tenant=tenant, now=NOON).created is True
    assert len(path.read_text().splitlines()) == 1


def _wait(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("the worker did not finish in time")


def _done(job: str, period: int) -> bool:
    return ScheduledRun.objects.filter(
        job=job, period=period_start(period), status=ScheduledRun.Status.DONE
    ).exists()


def _count(model: type, tenant: Tenant) -> int:
    with tenant_scope(tenant):
        return model.objects.count()  # type: ignore[attr-defined]


@needs_postgresql
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_the_beat_jobs_on_a_real_worker_anchor_every_tenant_then_verify_them(worker: str) -> None:
    tenants = [TenantFactory(), TenantFactory()]
    for tenant in tenants:
        _append(tenant, 2)
    period = int(timezone.now().timestamp())
    for _ in range(2):  # the beat's send, and the same period delivered again
        anchor_audit_chains.apply_async(kwargs={"period": period}, queue=worker)
    _wait(lambda: _done(anchor_audit_chains.name, period))
    _wait(lambda: all(_count(ChainAnchor, tenant) == 1 for tenant in tenants))
    verify_audit_chains.apply_async(kwargs={"period": period}, queue=worker)
    _wait(lambda: _done(verify_audit_chains.name, period))
    _wait(lambda: all(_count(ChainVerification, tenant) == 1 for tenant in tenants))
    with tenant_scope(tenants[0]):
        run = ChainVerification.objects.get()
    assert (run.ok, run.events_checked, run.anchors_checked) == (True, 2, 1)
    assert [_count(ChainAnchor, tenant) for tenant in tenants] == [1, 1]
