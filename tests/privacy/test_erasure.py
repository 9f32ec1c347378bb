"""Erasure by retention and by request: keys destroyed, ciphertext and masks cleared,
non-personal order facts kept, exactly one ledger entry per subject."""

from __future__ import annotations

import time
from datetime import timedelta
from uuid import uuid4

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connection
from django.utils import timezone

from audits.models import AuditEvent
from orders.lifecycle import transition_order
from orders.models import Order, Status
from orders.selectors import subjects_done_before
from privacy.erasure import erase_subject, erase_subjects
from privacy.erasure_requests import record_staff_request
from privacy.errors import SubjectErasedError
from privacy.keys import destroy_subject_key
from privacy.models import DataSubject, ErasureLedgerEntry, ErasureReason, RequestStatus, SubjectKey
from privacy.permissions import Purpose
from privacy.retention import retention_cutoff, set_retention_days, sweep_tenant
from privacy.reveal import reveal
from privacy.tasks import retention_sweep
from tenants.actors import SystemActor
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, TenantFactory, UserFactory
from tests.rawdb import write_column

pytestmark = pytest.mark.django_db(databases="__all__")
SYSTEM = SystemActor("tests")


def _finish(order: Order, *, days_ago: int) -> Order:
    agent = UserFactory(tenant=order.tenant, roles=[Role.CUSTOMER_SERVICE])
    transition_order(order=order, to=Status.CANCELLED, actor=agent)
    write_column(Order, order.pk, "status_changed_at", timezone.now() - timedelta(days=days_ago))
    return order


def _due_orders(tenant, count: int, phone_prefix: str) -> list[Order]:
    """``count`` customers, each with one order finished 9 days ago."""
    return [
        _finish(
            OrderFactory(
                tenant=tenant,
                customer={
                    "name": f"客{n}",
                    "phone": f"{phone_prefix}{n:04d}",
                    "address": "北京市朝阳区A路1号",
                },
            ),
            days_ago=9,
        )
        for n in range(count)
    ]


def _ledger(tenant) -> list[str]:
    with tenant_scope(tenant):
        return [str(s) for s in ErasureLedgerEntry.objects.values_list("subject_id", flat=True)]


def test_erasure_destroys_the_key_and_clears_every_sealed_field_and_mask() -> None:
    order = OrderFactory()
    entry = erase_subject(
        tenant=order.tenant,
        subject_id=order.subject_id,
        reason=ErasureReason.ADMINISTRATOR,
        actor=SYSTEM,
    )
    with tenant_scope(order.tenant):
        kept = Order.objects.get(pk=order.pk)
        subject = DataSubject.objects.get(pk=order.subject_id)
        key_left = SubjectKey.objects.filter(pk=order.subject_id).exists()
    sealed = [bytes(getattr(kept, f"{f}_ct")) for f in Order.SEALED_FIELDS] + [
        bytes(getattr(subject, f"{f}_ct")) for f in DataSubject.ENCRYPTED_FIELDS
    ]
    masks = [
        kept.recipient_masked,
        kept.phone_masked,
        kept.address_masked,
        kept.district,
        subject.name_masked,
        subject.phone_masked,
        subject.address_masked,
    ]
    assert (key_left, set(sealed), set(masks), kept.item_count, kept.status, entry.reason) == (
        False,
        {b""},
        {""},
        3,
        "received",
        "administrator",
    )


def test_an_erased_customer_can_no_longer_be_revealed() -> None:
    order = OrderFactory()
    erase_subject(
        tenant=order.tenant,
        subject_id=order.subject_id,
        reason=ErasureReason.ADMINISTRATOR,
        actor=SYSTEM,
    )
    with tenant_scope(order.tenant):
        order = Order.objects.get(pk=order.pk)
    officer = UserFactory(tenant=order.tenant, roles=[Role.PRIVACY_OFFICER])
    with pytest.raises(SubjectErasedError):
        reveal(order, fields=["phone"], actor=officer, purpose=Purpose.INCIDENT_INVESTIGATION)


def test_erasing_twice_leaves_one_ledger_entry() -> None:
    order = OrderFactory()
    first = erase_subject(
        tenant=order.tenant,
        subject_id=order.subject_id,
        reason=ErasureReason.ADMINISTRATOR,
        actor=SYSTEM,
    )
    second = erase_subject(
        tenant=order.tenant,
        subject_id=order.subject_id,
        reason=ErasureReason.ADMINISTRATOR,
        actor=SYSTEM,
    )
    assert (first.pk, _ledger(order.tenant)) == (second.pk, [str(order.subject_id)])


def test_erasure_is_audited_without_personal_data() -> None:
    order = OrderFactory()
    entry = erase_subject(
        tenant=order.tenant,
        subject_id=order.subject_id,
        reason=ErasureReason.ADMINISTRATOR,
        actor=SYSTEM,
    )
    with tenant_scope(order.tenant):
        event = AuditEvent.objects.get(action="privacy.subject_erased")
    assert event.details == {"reason": "administrator", "reference": entry.reference, "records": 2}


def test_a_batch_erases_each_subject_once_with_its_own_records_and_event() -> None:
    import uuid

    from audits.verification import verify_tenant_chain

    def customer(phone: str) -> dict[str, str]:
        return {"name": "欧阳娜娜", "phone": phone, "address": "上海市浦东新区张江路88号"}

    tenant = TenantFactory()
    first = OrderFactory(tenant=tenant, customer=customer("13900000001"))
    second = OrderFactory(tenant=tenant, customer=customer("13900000002"))
    again_second = OrderFactory(tenant=tenant, customer=customer("13900000002"))
    untouched = OrderFactory(tenant=tenant, customer=customer("13900000003"))
    assert again_second.subject_id == second.subject_id  # two orders, one customer
    batch = [first.subject_id, second.subject_id, uuid.uuid4()]  # an unknown id is skipped
    entries = erase_subjects(
        tenant=tenant, subject_ids=batch, reason=ErasureReason.RETENTION, actor=SYSTEM
    )
    again = erase_subjects(
        tenant=tenant, subject_ids=batch, reason=ErasureReason.RETENTION, actor=SYSTEM
    )
    with tenant_scope(tenant):
        events = {
            e.object_id: e.details["records"]
            for e in AuditEvent.objects.filter(action="privacy.subject_erased")
        }
        live = list(DataSubject.objects.filter(erased_at__isnull=True).values_list("pk", flat=True))
    assert (set(entries), {k: v.pk for k, v in again.items()}) == (
        {first.subject_id, second.subject_id},
        {k: v.pk for k, v in entries.items()},
    )
    # Subject row + its orders: 1 + 1 and 1 + 2; the rerun appended no event.
    assert events == {str(first.subject_id): 2, str(second.subject_id): 3}
    assert (live, _ledger(tenant).count(str(second.subject_id))) == ([untouched.subject_id], 1)
    assert verify_tenant_chain(tenant)[1] is None


def test_sweep_erases_due_subjects_only() -> None:
    tenant = TenantFactory()
    old = _finish(
        OrderFactory(
            tenant=tenant,
            customer={"name": "甲", "phone": "13800000001", "address": "北京市朝阳区A路1号"},
        ),
        days_ago=8,
    )
    recent = _finish(
        OrderFactory(
            tenant=tenant,
            customer={"name": "乙", "phone": "13800000002", "address": "北京市朝阳区A路2号"},
        ),
        days_ago=2,
    )
    open_order = OrderFactory(
        tenant=tenant,
        customer={"name": "丙", "phone": "13800000003", "address": "北京市朝阳区A路3号"},
    )
    erased = sweep_tenant(tenant)
    assert (erased, _ledger(tenant)) == (1, [str(old.subject_id)])
    assert (recent.subject_id, open_order.subject_id) != (None, None)


def test_the_sweep_pages_through_every_due_subject_each_page_starting_after_the_last() -> None:
    tenant = TenantFactory()
    due = sorted(order.subject_id for order in _due_orders(tenant, 5, "1380001"))
    kept = OrderFactory(
        tenant=tenant,
        customer={"name": "丁", "phone": "13800029999", "address": "北京市朝阳区A路4号"},
    )
    cutoff = retention_cutoff(tenant)
    with tenant_scope(tenant):
        assert sorted(subjects_done_before(tenant, cutoff, None)) == due
        assert sorted(subjects_done_before(tenant, cutoff, due[1])) == due[2:]
        assert list(subjects_done_before(tenant, cutoff, due[-1])) == []
    assert sweep_tenant(tenant, batch_size=2) == 5
    assert sorted(_ledger(tenant)) == sorted(str(subject) for subject in due)
    with tenant_scope(tenant):
        assert DataSubject.objects.get(pk=kept.subject_id).erased_at is None


def test_each_page_bounds_the_orders_it_reads_not_only_the_customers() -> None:
    # PostgreSQL carries equalities across a join but not ranges: without the bound on
    # the orders' side, a merge join read the tenant's orders from the first customer on
    # every page (a sweep quadratic in its customers).
    tenant = TenantFactory()
    with tenant_scope(tenant):
        sql = str(subjects_done_before(tenant, timezone.now(), uuid4()).query)
    # Both orders subqueries (has orders; has one still blocking) and the customers.
    assert (sql.count('U0."subject_id" >'), sql.count('"privacy_datasubject"."id" >')) == (
        2,
        1,
    ), sql


def test_a_customer_with_an_open_order_is_kept() -> None:
    tenant = TenantFactory()
    done = _finish(OrderFactory(tenant=tenant), days_ago=30)
    OrderFactory(tenant=tenant)  # same customer (same phone), order still open
    assert (sweep_tenant(tenant), _ledger(tenant), done.subject_id is not None) == (0, [], True)


def test_retention_follows_the_tenants_policy() -> None:
    tenant = TenantFactory()
    _finish(OrderFactory(tenant=tenant), days_ago=8)
    set_retention_days(tenant=tenant, days=30, actor=SYSTEM)
    assert sweep_tenant(tenant) == 0


@pytest.mark.parametrize("days", [-1, 366, "7", True])
def test_retention_days_are_0_to_365(days: object) -> None:
    with pytest.raises(ValidationError):
        set_retention_days(tenant=TenantFactory(), days=days, actor=SYSTEM)


def test_sweeping_one_tenant_never_touches_another() -> None:
    ours, theirs = TenantFactory(), TenantFactory()
    _finish(OrderFactory(tenant=theirs), days_ago=30)
    sweep_tenant(ours)
    assert _ledger(theirs) == []


def test_a_rerun_after_a_crash_mid_sweep_erases_the_rest_exactly_once() -> None:
    tenant = TenantFactory()
    orders = _due_orders(tenant, 6, "1380000")
    # The state a crash leaves: three subjects fully erased, one whose key was destroyed
    # before the process died (its ciphertext still there), two untouched.
    for order in orders[:3]:
        erase_subject(
            tenant=tenant, subject_id=order.subject_id, reason=ErasureReason.RETENTION, actor=SYSTEM
        )
    destroy_subject_key(tenant, orders[3].subject_id)
    erased = sweep_tenant(tenant)
    with tenant_scope(tenant):
        cleared = set(Order.objects.values_list("name_ct", flat=True))
    assert (erased, sorted(_ledger(tenant)), {bytes(c) for c in cleared}) == (
        3,
        sorted(str(o.subject_id) for o in orders),
        {b""},
    )


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the append-only trigger exists on PostgreSQL only"
)
def test_the_ledger_rejects_updates() -> None:
    order = OrderFactory()
    entry = erase_subject(
        tenant=order.tenant,
        subject_id=order.subject_id,
        reason=ErasureReason.ADMINISTRATOR,
        actor=SYSTEM,
    )
    with pytest.raises(DatabaseError, match="append-only"), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE privacy_erasureledgerentry SET reason = 'x' WHERE id = %s", [entry.pk]
        )


def test_privacy_officer_records_a_verified_request_and_it_runs_at_once() -> None:
    order = OrderFactory()
    officer = UserFactory(tenant=order.tenant, roles=[Role.PRIVACY_OFFICER])
    request = record_staff_request(
        tenant=order.tenant,
        subject_id=order.subject_id,
        channel="in_person",
        evidence="ID card checked at the counter",
        actor=officer,
    )
    assert (
        request.status,
        request.ledger_entry.reason,
        round((request.due_at - request.received_at).total_seconds() / 86400),
    ) == (
        RequestStatus.COMPLETED,
        "staff_request",
        15,
    )


@pytest.mark.parametrize("role", [r for r in Role if r != Role.PRIVACY_OFFICER])
def test_only_the_privacy_officer_records_requests(role: Role) -> None:
    order = OrderFactory()
    with pytest.raises(PermissionDenied):
        record_staff_request(
            tenant=order.tenant,
            subject_id=order.subject_id,
            channel="phone",
            evidence="relay call",
            actor=UserFactory(tenant=order.tenant, roles=[role]),
        )


@pytest.mark.parametrize(
    ("channel", "evidence", "field"),
    [("web", "x", "channel"), ("phone", "", "evidence"), ("phone", "x" * 201, "evidence")],
)
def test_bad_staff_requests_are_refused(channel: str, evidence: str, field: str) -> None:
    order = OrderFactory()
    officer = UserFactory(tenant=order.tenant, roles=[Role.PRIVACY_OFFICER])
    with pytest.raises(ValidationError) as error:
        record_staff_request(
            tenant=order.tenant,
            subject_id=order.subject_id,
            channel=channel,
            evidence=evidence,
            actor=officer,
        )
    assert list(error.value.message_dict) == [field]


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_the_retention_sweep_runs_on_a_real_worker(worker: str) -> None:
    tenant = TenantFactory()
    order = _finish(OrderFactory(tenant=tenant), days_ago=10)
    retention_sweep.apply_async(queue=worker)
    deadline = time.monotonic() + 20
    while not _ledger(tenant) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _ledger(tenant) == [str(order.subject_id)]


def test_privacy_officer_records_a_request_in_the_admin(client) -> None:
    order = OrderFactory()
    client.force_login(UserFactory(tenant=order.tenant, roles=[Role.PRIVACY_OFFICER]))
    response = client.post(
        "/admin/privacy/erasurerequest/add/",
        {"phone": "139 1234 5678", "channel": "in_person", "evidence": "ID card checked"},
        HTTP_ACCEPT_LANGUAGE="en",
        follow=True,
    )
    assert _ledger(order.tenant) == [str(order.subject_id)]
    # The officer is told what happened, on the request's own page (post/redirect/get).
    assert response.redirect_chain[-1][0].endswith("/change/")
    assert "Erasure request recorded and carried out" in response.content.decode()


def test_the_admin_says_nothing_was_erased_when_the_ledger_cannot_be_written(client) -> None:
    from privacy.ledger_file import LEDGER_FILE, backup_dir, ensure_ledger

    order = OrderFactory()
    ensure_ledger()
    (backup_dir() / LEDGER_FILE).unlink()
    (backup_dir() / LEDGER_FILE).symlink_to("/dev/full")  # a full disk
    client.force_login(UserFactory(tenant=order.tenant, roles=[Role.PRIVACY_OFFICER]))
    response = client.post(
        "/admin/privacy/erasurerequest/add/",
        {"phone": "139 1234 5678", "channel": "in_person", "evidence": "ID card checked"},
        HTTP_ACCEPT_LANGUAGE="en",
        follow=True,
    )
    assert (response.status_code, _ledger(order.tenant)) == (200, [])
    assert "Nothing was erased: the erasure ledger cannot be written" in response.content.decode()


def test_tenant_admin_sets_retention_in_the_admin(client) -> None:
    admin = UserFactory(roles=[Role.TENANT_ADMIN])
    client.force_login(admin)
    client.post("/admin/privacy/retentionpolicy/add/", {"days": 30})
    from privacy.selectors import retention_days

    assert retention_days(admin.tenant) == 30


def test_after_the_sweep_raw_sql_finds_no_ciphertext_or_key_of_erased_subjects() -> None:
    from django.db import connections

    tenant = TenantFactory()
    order = _finish(OrderFactory(tenant=tenant), days_ago=9)
    sweep_tenant(tenant)
    with connections["keystore"].cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM privacy_subjectkey WHERE id = %s",
            [SubjectKey._meta.pk.get_db_prep_value(order.subject_id, connections["keystore"])],
        )
        keys = cursor.fetchone()[0]
    from tests.rawdb import read_column

    sealed = {read_column(Order, order.pk, f"{f}_ct") for f in Order.SEALED_FIELDS} | {
        read_column(DataSubject, order.subject_id, f"{f}_ct") for f in DataSubject.ENCRYPTED_FIELDS
    }
    assert (keys, sealed) == (0, {b""})


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the sweep process shares the PostgreSQL test database",
)
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_a_sweep_killed_mid_run_and_rerun_erases_everyone_exactly_once(tmp_path, settings) -> None:
    import signal
    import subprocess
    import sys

    from tests.subprocess_manage import ROOT, child_env

    tenant = TenantFactory(slug="sweep-kill")
    orders = _due_orders(tenant, 40, "1390000")

    env = child_env(settings.BACKUP_DIR)
    sweep = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "retention_sweep",
            "--tenant",
            "sweep-kill",
            "--batch-size",
            "1",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(_ledger(tenant)) < 5:
        time.sleep(0.02)
    sweep.send_signal(signal.SIGKILL)  # a crash mid-sweep, whatever it was doing
    sweep.wait()
    killed_after = len(_ledger(tenant))
    sweep_tenant(tenant)  # the rerun
    with tenant_scope(tenant):
        keys = SubjectKey.objects.filter(pk__in=[o.subject_id for o in orders]).count()
    assert (0 < killed_after < 40, sorted(_ledger(tenant)), keys) == (
        True,
        sorted(str(o.subject_id) for o in orders),
        0,
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_the_sweep_passes_over_a_customer_an_intake_is_matching_right_now() -> None:
    import threading

    from django.db import connections, transaction

    from orders.intake import create_order
    from privacy.selectors import current_notice

    order = _finish(OrderFactory(), days_ago=30)  # the customer is due
    tenant = order.tenant
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    matched, release, seen = threading.Event(), threading.Event(), []

    def intake_in_progress() -> None:
        # The intake's write has run (its one statement locks the customer) but its
        # transaction, the caller's here, has not committed yet.
        try:
            with transaction.atomic():
                new = create_order(
                    tenant=tenant,
                    actor=agent,
                    customer={"name": "张三", "phone": "13912345678", "address": "上海市88号"},
                    items=[{"name": "米饭", "quantity": 1}],
                    privacy_notice_version=current_notice(tenant).version,
                    channel="phone",
                )
                seen.append(new.order.subject_id == order.subject_id)
                matched.set()
                release.wait(10)
            _finish(new.order, days_ago=30)  # then it too is finished long ago
        finally:
            connections.close_all()

    intake = threading.Thread(target=intake_in_progress)
    intake.start()
    assert matched.wait(10)
    try:
        during = sweep_tenant(tenant)  # must not erase a customer being matched
    finally:
        release.set()
        intake.join()
    after = sweep_tenant(tenant)  # nothing holds the customer any more
    with tenant_scope(tenant):
        key_left = SubjectKey.objects.filter(pk=order.subject_id).exists()
    assert (seen, during, after, key_left) == ([True], 0, 1, False)
