"""The retention sweep over customers as a real tenant has them (issue 21, point 6): several
orders each with their notice records, status rows, rider assignments and audit events; one
set-based batch whose number of statements does not grow with its size; a kill between
batches resumed exactly once."""

from __future__ import annotations

import types
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audits.models import AuditEvent
from audits.verification import verify_tenant_chain
from orders.lifecycle import transition_order
from orders.models import Order, OrderTransition, Status
from privacy.erasure import erase_subjects
from privacy.ledger_file import read_ledger_file
from privacy.models import (
    DataSubject,
    ErasureLedgerEntry,
    ErasureReason,
    NoticeRecord,
    SubjectKey,
)
from privacy.retention import sweep_tenant
from tenants.actors import SystemActor
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, TenantFactory, UserFactory
from tests.rawdb import write_column
from tests.subprocess_manage import child_env, run_python

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the set-based erasure is PostgreSQL's"
)
SYSTEM = SystemActor("tests")
ROOT = Path(__file__).resolve().parents[2]


def _customer(n: int) -> dict[str, str]:
    return {"name": f"客{n}", "phone": f"1371234{n:04d}", "address": f"北京市朝阳区B路{n}号"}


def _regular(tenant, n: int, orders: int, *, last_in_progress: bool = False) -> list[Order]:
    """A returning customer: ``orders`` orders taken through intake (one customer, a
    notice record and a status row each), all cancelled 30 days ago but the last one when
    ``last_in_progress`` (then it is being prepared)."""
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE, Role.KITCHEN])
    taken = [OrderFactory(tenant=tenant, customer=_customer(n)) for _ in range(orders)]
    for index, order in enumerate(taken):
        if last_in_progress and index == len(taken) - 1:
            transition_order(order=order, to=Status.PREPARING, actor=agent)
            continue
        transition_order(order=order, to=Status.CANCELLED, actor=agent)
        write_column(Order, order.pk, "status_changed_at", timezone.now() - timedelta(days=30))
    assert len({order.subject_id for order in taken}) == 1  # the same customer each time
    return taken


def _counts(tenant, subjects: list) -> dict[str, int]:
    with tenant_scope(tenant):
        orders = Order.objects.filter(subject_id__in=subjects)
        return {
            "orders": orders.count(),
            "status_rows": OrderTransition.objects.filter(order__in=orders).count(),
            "notice_records": NoticeRecord.objects.filter(subject_id__in=subjects).count(),
            "keys": SubjectKey.objects.filter(pk__in=subjects).count(),
            "live": DataSubject.objects.filter(pk__in=subjects, erased_at__isnull=True).count(),
            "ledger": ErasureLedgerEntry.objects.filter(subject_id__in=subjects).count(),
            "erased_events": AuditEvent.objects.filter(
                action="privacy.subject_erased", object_id__in=[str(s) for s in subjects]
            ).count(),
        }


@pytest.mark.django_db(databases="__all__")
def test_customers_with_several_orders_are_swept_whole_in_one_run() -> None:
    tenant = TenantFactory()
    regulars = [_regular(tenant, n, orders) for n, orders in ((1, 3), (2, 4), (3, 5))]
    subjects = [orders[0].subject_id for orders in regulars]
    before = _counts(tenant, subjects)

    assert sweep_tenant(tenant, batch_size=2) == 3

    after = _counts(tenant, subjects)
    assert (before["orders"], before["status_rows"], before["notice_records"]) == (12, 24, 12)
    # Non-personal history stays; the key, the customer and every order's data go.
    assert after == {
        **before,
        "keys": 0,
        "live": 0,
        "ledger": 3,
        "erased_events": 3,
    }
    with tenant_scope(tenant):
        orders = list(Order.objects.filter(subject_id__in=subjects))
        records = dict(
            ErasureLedgerEntry.objects.filter(subject_id__in=subjects).values_list(
                "subject_id", "records"
            )
        )
    assert {
        (bytes(o.name_ct), bytes(o.address_ct), bytes(o.items_ct), o.phone_masked, o.district)
        for o in orders
    } == {(b"", b"", b"", "", "")}
    # The customer's row and each of their orders.
    assert records == {s: 1 + n for s, n in zip(subjects, (3, 4, 5), strict=True)}
    lines = Counter(line["subject"] for line in read_ledger_file())
    assert [lines[str(s)] for s in subjects] == [1, 1, 1]
    assert verify_tenant_chain(tenant)[1] is None


@pytest.mark.django_db(databases="__all__")
def test_a_customer_with_an_order_still_in_progress_is_not_swept() -> None:
    tenant = TenantFactory()
    busy = _regular(tenant, 11, 3, last_in_progress=True)[0].subject_id
    done = _regular(tenant, 12, 3)[0].subject_id

    assert sweep_tenant(tenant) == 1

    kept, erased = _counts(tenant, [busy]), _counts(tenant, [done])
    assert (kept["keys"], kept["live"], kept["ledger"]) == (1, 1, 0)
    assert (erased["keys"], erased["live"], erased["ledger"]) == (0, 0, 1)
    with tenant_scope(tenant):
        assert all(bytes(o.name_ct) for o in Order.objects.filter(subject_id=busy))


def _due_customers(tenant, count: int) -> list:
    return [_regular(tenant, 100 + n, 2)[0].subject_id for n in range(count)]


@pytest.mark.django_db(databases="__all__")
def test_the_statements_of_a_batch_do_not_grow_with_its_size() -> None:
    tenant = TenantFactory()
    small, large = _due_customers(tenant, 2), _due_customers(tenant, 8)

    def statements(subjects: list) -> tuple[int, int]:
        with (
            CaptureQueriesContext(connections["default"]) as main,
            CaptureQueriesContext(connections["keystore"]) as keys,
        ):
            erased = erase_subjects(
                tenant=tenant,
                subject_ids=subjects,
                reason=ErasureReason.RETENTION,
                actor=SYSTEM,
                skip_locked=True,
                materialise=False,
            )
        assert set(erased) == set(subjects)
        return len(main.captured_queries), len(keys.captured_queries)

    at_two, at_eight = statements(small), statements(large)
    # Lock and read the ledger, clear every model and append the entries, the audit events:
    # a handful of statements (plus the transaction's own), whatever the batch's size.
    assert at_two == at_eight
    assert at_two[0] <= 8 and at_two[1] <= 3, at_two


@pytest.mark.django_db(databases="__all__")
def test_the_realistic_bench_seed_is_swept_and_checked() -> None:
    """The bench's own seed (COPY: several orders, status rows, assignments, anomalies,
    handover codes, privacy reports, audit history) and its checks, at a small size."""
    from bench.retention import check_swept, seed_subjects
    from riders.profiles import ensure_rider_profile

    tenant = TenantFactory()
    OrderFactory(tenant=tenant)  # the tenant's notice
    rider = ensure_rider_profile(user=UserFactory(tenant=tenant, roles=[Role.RIDER]), actor=SYSTEM)
    fx = types.SimpleNamespace(tenant=tenant, rider=rider)
    seeded = seed_subjects(fx, 120)
    assert seeded.rows["orders"] >= 3 * 124 and seeded.rows["status_rows"] > 5 * 120
    if connection.vendor == "postgresql":
        # The bench's floor writes to copies of the tables: the sweep still finds every row.
        from bench.retention import sweep_floor

        assert sweep_floor(fx, seeded.due) > 0

    assert sweep_tenant(tenant, batch_size=50) == 120

    assert check_swept(fx, seeded) == {"erased": 120, "kept": 4}
    assert verify_tenant_chain(tenant)[1] is None


KILLER = """
import os, signal, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django
django.setup()
from privacy import erasure, retention
from tenants.actors import SystemActor
from tenants.models import Tenant

real, calls = erasure.erase_subjects, []

def dying(**kwargs):
    result = real(**kwargs)
    calls.append(1)
    if len(calls) == 2:  # two batches committed: die before the third
        os.kill(os.getpid(), signal.SIGKILL)
    return result

retention.erase_subjects = dying
# One batch at a time, so that the kill falls between two (tests/privacy/test_retention_threads.py
# kills a sweep whose batches run side by side).
retention.sweep_tenant(
    Tenant.objects.get(pk=int(sys.argv[1])), actor=SystemActor("t"), batch_size=2, workers=1
)
sys.exit(3)
"""


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_a_sweep_killed_between_batches_resumes_exactly_once(settings) -> None:
    tenant = TenantFactory()
    subjects = _due_customers(tenant, 7)

    killed = run_python(KILLER, str(tenant.pk), env=child_env(settings.BACKUP_DIR))
    assert killed.returncode == -9, killed.stderr[-2000:]
    halfway = _counts(tenant, subjects)
    assert (halfway["ledger"], halfway["keys"], halfway["live"]) == (4, 3, 3)

    assert sweep_tenant(tenant, batch_size=2) == 3  # the rerun erases the rest only

    after = _counts(tenant, subjects)
    assert (after["ledger"], after["keys"], after["live"], after["erased_events"]) == (7, 0, 0, 7)
    lines = Counter(line["subject"] for line in read_ledger_file())
    assert sorted(lines[str(s)] for s in subjects) == [1] * 7
    with tenant_scope(tenant):
        per_subject = Counter(
            ErasureLedgerEntry.objects.filter(subject_id__in=subjects).values_list(
                "subject_id", flat=True
            )
        )
    assert set(per_subject.values()) == {1}
    assert verify_tenant_chain(tenant)[1] is None
