"""The retention sweep's batches erased by worker threads side by side (issue 21, point 6):
every due customer erased exactly once, a failing batch stops the sweep and is raised, a
kill leaves nothing that a rerun erases twice, and a caller's transaction keeps the sweep
in its own thread."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, transaction

from audits.verification import verify_tenant_chain
from privacy import retention
from privacy.ledger_file import LedgerWriteError, read_ledger_file
from privacy.models import ErasureLedgerEntry
from privacy.retention import sweep_tenant
from tenants.scoping import tenant_scope
from tests.factories import TenantFactory
from tests.privacy.test_retention_realistic import _counts, _due_customers
from tests.subprocess_manage import child_env, run_python

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the sweep's threads run on PostgreSQL"
)


def _threads_of_batches(monkeypatch) -> list[str]:
    """The name of the thread that erased each batch."""
    names: list[str] = []
    real = retention.erase_subjects

    def erase(**kwargs):
        names.append(threading.current_thread().name)
        return real(**kwargs)

    monkeypatch.setattr(retention, "erase_subjects", erase)
    return names


def _entries_per_subject(tenant, subjects: list) -> Counter:
    with tenant_scope(tenant):
        return Counter(
            ErasureLedgerEntry.objects.filter(subject_id__in=subjects).values_list(
                "subject_id", flat=True
            )
        )


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_worker_threads_erase_every_due_customer_exactly_once(monkeypatch) -> None:
    tenant = TenantFactory()
    subjects = _due_customers(tenant, 9)
    threads = _threads_of_batches(monkeypatch)

    assert sweep_tenant(tenant, batch_size=2, workers=3) == 9

    assert len(threads) == 5 and all(n.startswith("retention-sweep-") for n in threads), threads
    after = _counts(tenant, subjects)
    assert (after["ledger"], after["keys"], after["live"], after["erased_events"]) == (9, 0, 0, 9)
    assert set(_entries_per_subject(tenant, subjects).values()) == {1}
    lines = Counter(line["subject"] for line in read_ledger_file())
    assert sorted(lines[str(s)] for s in subjects) == [1] * 9
    # Each batch took a free stripe of the chain: every stripe still verifies.
    assert verify_tenant_chain(tenant)[1] is None
    # The threads' connections are closed; this thread's still works.
    with tenant_scope(tenant):
        assert ErasureLedgerEntry.objects.count() == 9
    assert sweep_tenant(tenant, batch_size=2, workers=3) == 0  # nothing left to do


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_a_failing_batch_stops_the_sweep_and_its_error_is_raised(monkeypatch) -> None:
    tenant = TenantFactory()
    subjects = _due_customers(tenant, 8)
    real, calls = retention.erase_subjects, []
    guard = threading.Lock()

    def erase(**kwargs):
        with guard:
            calls.append(1)
            failing = len(calls) == 2
        if failing:  # what erase_subjects raises when the file ledger cannot be written
            raise LedgerWriteError("the erasure ledger in /backups could not be written (full)")
        return real(**kwargs)

    monkeypatch.setattr(retention, "erase_subjects", erase)
    with pytest.raises(LedgerWriteError, match="could not be written"):
        sweep_tenant(tenant, batch_size=2, workers=2)

    # The batches that ran are whole; the failed one erased nothing; no batch started
    # once the failure was seen (at most the one the other thread was running ended).
    halfway = _counts(tenant, subjects)
    assert halfway["ledger"] in (2, 4), halfway
    assert halfway["ledger"] + halfway["keys"] == 8 and halfway["live"] == halfway["keys"]
    assert len(calls) <= 3

    monkeypatch.setattr(retention, "erase_subjects", real)
    assert sweep_tenant(tenant, batch_size=2, workers=2) == 8 - halfway["ledger"]
    after = _counts(tenant, subjects)
    assert (after["ledger"], after["keys"], after["live"], after["erased_events"]) == (8, 0, 0, 8)
    assert set(_entries_per_subject(tenant, subjects).values()) == {1}
    assert verify_tenant_chain(tenant)[1] is None


@pytest.mark.django_db(databases="__all__")
def test_inside_a_callers_transaction_the_batches_stay_in_its_thread(monkeypatch) -> None:
    tenant = TenantFactory()
    subjects = _due_customers(tenant, 3)
    threads = _threads_of_batches(monkeypatch)

    with transaction.atomic():
        assert sweep_tenant(tenant, batch_size=1, workers=4) == 3

    assert threads == [threading.current_thread().name] * 3
    assert _counts(tenant, subjects)["ledger"] == 3


KILLER = """
import os, signal, sys, threading
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django
django.setup()
from privacy import retention
from tenants.actors import SystemActor
from tenants.models import Tenant

real, calls, guard = retention.erase_subjects, [], threading.Lock()

def dying(**kwargs):
    result = real(**kwargs)
    with guard:
        calls.append(1)
        if len(calls) == 2:  # two batches committed, the other thread may be mid-batch
            os.kill(os.getpid(), signal.SIGKILL)
    return result

retention.erase_subjects = dying
retention.sweep_tenant(
    Tenant.objects.get(pk=int(sys.argv[1])), actor=SystemActor("t"), batch_size=2, workers=2
)
sys.exit(3)
"""


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_a_sweep_killed_while_its_threads_erase_is_finished_by_the_rerun_once(settings) -> None:
    tenant = TenantFactory()
    subjects = _due_customers(tenant, 9)

    killed = run_python(KILLER, str(tenant.pk), env=child_env(settings.BACKUP_DIR))
    assert killed.returncode == -9, killed.stderr[-2000:]
    halfway = _counts(tenant, subjects)
    # Two batches committed, maybe a third; a batch cut short committed nothing (its
    # keys may be gone: that customer's data is unreadable already).
    assert halfway["ledger"] in (4, 6) and halfway["live"] == 9 - halfway["ledger"], halfway

    assert sweep_tenant(tenant, batch_size=2, workers=2) == 9 - halfway["ledger"]

    after = _counts(tenant, subjects)
    assert (after["ledger"], after["keys"], after["live"], after["erased_events"]) == (9, 0, 0, 9)
    assert set(_entries_per_subject(tenant, subjects).values()) == {1}
    lines = Counter(line["subject"] for line in read_ledger_file())
    # Every erasure is on file; a customer whose batch was cut short after its intent was
    # written has that intent too (the reconcile reads it as done: privacy/ledger.py).
    assert all(lines[str(s)] >= 1 for s in subjects)
    assert sum(lines[str(s)] for s in subjects) <= 9 + 2
    assert verify_tenant_chain(tenant)[1] is None
