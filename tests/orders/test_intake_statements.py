"""Intake's round trips: what the benchmark's profile brought it down to (docs/benchmarks.md).
A statement count, not a timing: it fails when a change adds a round trip to every order."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

import orders.intake as intake_module
from audits.models import CHAIN_STRIPES, AuditChainHead, AuditEvent
from audits.verification import verify_tenant_chain
from core.errors import Conflict
from orders.intake import create_order
from orders.models import Order, OrderTransition
from privacy.erasure import erase_subjects
from privacy.models import DataSubject, ErasureReason, NoticeRecord, PrivacyNotice
from privacy.permissions import Purpose
from privacy.reveal import reveal
from privacy.selectors import current_notice
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, TenantFactory, UserFactory

pytestmark = [
    pytest.mark.django_db(databases="__all__"),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the one-round-trip writes are PostgreSQL's"
    ),
]


def _an_order_and_an_agent() -> tuple[Order, object]:
    """A tenant with one order (so a notice, a customer and a chain), and an agent."""
    first = OrderFactory()
    return first, UserFactory(tenant=first.tenant, roles=[Role.CUSTOMER_SERVICE])


def _intake(tenant, agent, phone: str = "13912345678") -> dict:
    return {
        "tenant": tenant,
        "actor": agent,
        "customer": {"name": "欧阳娜娜", "phone": phone, "address": "上海市浦东新区张江路88号"},
        "items": [{"name": "米饭", "quantity": 1}],
        "privacy_notice_version": current_notice(tenant).version,
        "channel": "phone",
    }


def _captured_intake(intake: dict) -> tuple[Order, list[str], list[str]]:
    """The order, and the first word of each statement the intake sent to the main
    database and to the key store. The test's own transaction turns the intake's
    savepoints into SAVEPOINT/RELEASE: not round trips of the intake, so left out."""
    with (
        CaptureQueriesContext(connections["default"]) as main,
        CaptureQueriesContext(connections["keystore"]) as keys,
    ):
        order = create_order(**intake).order
    return order, *(
        [
            q["sql"].split()[0]
            for q in captured.captured_queries
            if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))
        ]
        for captured in (main, keys)
    )


def test_a_returning_customers_intake_writes_everything_in_few_round_trips() -> None:
    first, agent = _an_order_and_an_agent()
    intake = _intake(first.tenant, agent)
    create_order(**intake)  # warm: key rows and the notice are cached for a while
    again, statements, key_statements = _captured_intake(intake)
    with tenant_scope(first.tenant):
        record = NoticeRecord.objects.get(pk=again.notice_record_id)
        transitions = OrderTransition.objects.filter(order=again).count()
        actions = list(
            AuditEvent.objects.order_by("-sequence").values_list("action", flat=True)[:2]
        )
        stored = Order.objects.get(pk=again.pk)
    assert (record.subject_id, stored.subject_id, transitions) == (
        first.subject_id,
        first.subject_id,
        1,
    )
    assert actions == ["order.created", "privacy.subject_matched"]
    assert verify_tenant_chain(first.tenant)[1] is None
    # The blind-index match, then one statement: the customer's lock, notice record,
    # order, status change, the events chained by the database and the head move. One
    # key read. Outside a test's transaction that statement is its own transaction: no
    # BEGIN, no COMMIT.
    assert (statements, key_statements) == (["SELECT", "WITH"], ["SELECT"])


def _counts(tenant) -> tuple[int, ...]:
    with tenant_scope(tenant):
        return (
            Order.objects.count(),
            NoticeRecord.objects.count(),
            OrderTransition.objects.count(),
            AuditEvent.objects.count(),
        )


def test_a_new_customers_intake_is_one_statement_after_its_key() -> None:
    first, agent = _an_order_and_an_agent()
    create_order(**_intake(first.tenant, agent, phone="13700009999"))  # warm caches
    new, statements, key_statements = _captured_intake(
        _intake(first.tenant, agent, phone="13700001111")
    )
    with tenant_scope(first.tenant):
        subject = DataSubject.objects.get(pk=new.subject_id)
        record = NoticeRecord.objects.get(pk=new.notice_record_id)
        events = list(
            AuditEvent.objects.order_by("-sequence").values_list("action", "object_id")[:2]
        )
    assert new.subject_id != first.subject_id
    assert (record.subject_id, subject.erased_at) == (subject.pk, None)
    assert events == [("order.created", str(new.pk)), ("privacy.subject_created", str(subject.pk))]
    assert verify_tenant_chain(first.tenant)[1] is None
    # The blind-index match; the new key written to the key store (one INSERT, committed
    # alone); one statement, which inserts the customer too, only if no rotation retired
    # the key's wrapping version meanwhile (the check privacy.keys makes after its write).
    assert (statements, key_statements) == (["SELECT", "WITH"], ["INSERT"])
    assert reveal(new, fields=["phone"], actor=agent, purpose=Purpose.CUSTOMER_SERVICE_CALL) == {
        "phone": "13700001111"
    }


def test_a_customer_erased_between_the_match_and_the_write_gets_a_new_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, agent = _an_order_and_an_agent()
    tenant = first.tenant
    real_match = intake_module.match_contact

    def match_then_erase(tenant_, phone):  # an erasure commits right after the match
        found = real_match(tenant_, phone)
        erase_subjects(
            tenant=tenant_,
            subject_ids=[found[0].pk],
            reason=ErasureReason.STAFF_REQUEST,
            actor=agent,
        )
        return found

    monkeypatch.setattr(intake_module, "match_contact", match_then_erase)
    new = create_order(**_intake(tenant, agent)).order
    with tenant_scope(tenant):
        old = DataSubject.objects.get(pk=first.subject_id)
        actions = list(
            AuditEvent.objects.order_by("-sequence").values_list("action", flat=True)[:2]
        )
        on_old = Order.objects.filter(subject_id=old.pk).count()
    assert (old.erased_at is not None, new.subject_id != old.pk, on_old) == (True, True, 1)
    assert actions == ["order.created", "privacy.subject_created"]
    assert verify_tenant_chain(tenant)[1] is None
    assert reveal(new, fields=["name"], actor=agent, purpose=Purpose.CUSTOMER_SERVICE_CALL) == {
        "name": "欧阳娜娜"
    }


@pytest.mark.django_db(databases="__all__", transaction=True)
@pytest.mark.parametrize("inside_a_transaction", [False, True])
def test_a_taken_order_code_is_drawn_again_and_nothing_is_half_written(
    monkeypatch: pytest.MonkeyPatch, inside_a_transaction: bool
) -> None:
    first, agent = _an_order_and_an_agent()
    tenant = first.tenant
    codes = iter([first.code, first.code, "ZZZZZ-ZZZZZ"])
    monkeypatch.setattr(intake_module, "_new_code", lambda: next(codes))
    before = _counts(tenant)
    with transaction.atomic() if inside_a_transaction else nullcontext():
        new = create_order(**_intake(tenant, agent, phone="13600002222")).order
    assert new.code == "ZZZZZ-ZZZZZ"
    orders, notices, transitions, events = _counts(tenant)
    # One order, one notice record, one status change, two events (customer, order).
    assert (orders, notices, transitions, events) == (
        before[0] + 1,
        before[1] + 1,
        before[2] + 1,
        before[3] + 2,
    )
    assert verify_tenant_chain(tenant)[1] is None


def test_codes_that_stay_taken_end_in_a_conflict_with_nothing_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, agent = _an_order_and_an_agent()
    tenant = first.tenant
    monkeypatch.setattr(intake_module, "_new_code", lambda: first.code)
    before = _counts(tenant)
    with pytest.raises(Conflict, match="order code"):
        create_order(**_intake(tenant, agent))
    assert _counts(tenant) == before


def test_a_tenant_whose_chain_has_no_head_yet_gets_one() -> None:
    tenant = TenantFactory()
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    with tenant_scope(tenant):  # a notice written without its event: no event yet at all
        PrivacyNotice(tenant=tenant, version=1, retention_days=7, published_by="tests").save()
        assert not AuditChainHead.objects.exists()
    new = create_order(**_intake(tenant, agent, phone="13500003333")).order
    with tenant_scope(tenant):
        head = AuditChainHead.objects.get(stripe=0)  # one of CHAIN_STRIPES (decision 0019)
        heads = AuditChainHead.objects.count()
        actions = list(AuditEvent.objects.order_by("sequence").values_list("action", flat=True))
    assert (head.sequence, heads, actions) == (
        2,
        CHAIN_STRIPES,
        ["privacy.subject_created", "order.created"],
    )
    assert verify_tenant_chain(tenant)[1] is None
    assert new.pk is not None


def test_the_intake_statement_is_prepared_after_its_first_runs() -> None:
    first, agent = _an_order_and_an_agent()
    for _ in range(3):
        create_order(**_intake(first.tenant, agent))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["WITH subject AS (SELECT%"],
        )
        (prepared,) = cursor.fetchone()
    assert prepared == 1


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_concurrent_intakes_and_other_events_never_fork_the_chain() -> None:
    import threading

    from audits.services import record_event

    first, agent = _an_order_and_an_agent()
    tenant = first.tenant
    writers, per_writer, errors = 4, 10, []
    barrier = threading.Barrier(writers + 1)

    def intakes(writer: int) -> None:
        try:
            barrier.wait()
            for n in range(per_writer):  # returning and new customers
                create_order(**_intake(tenant, agent, phone=f"1380000{writer}{n % 3:03d}"))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    def other_events() -> None:  # appended by Python meanwhile
        try:
            barrier.wait()
            for _ in range(per_writer):
                record_event(tenant=tenant, actor=agent, action="test.other")
        except Exception as error:  # noqa: BLE001
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=intakes, args=(w,)) for w in range(writers)]
    threads.append(threading.Thread(target=other_events))
    before = _counts(tenant)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with tenant_scope(tenant):
        rows = AuditEvent.objects.order_by("stripe", "sequence").values_list("stripe", "sequence")
        stripes: dict[int, list[int]] = {}
        for stripe, sequence in rows:
            stripes.setdefault(stripe, []).append(sequence)
    orders, _notices, _transitions, events = _counts(tenant)
    assert errors == []
    assert orders - before[0] == writers * per_writer
    assert events - before[3] == writers * per_writer * 2 + per_writer
    # Every stripe the writers used is gapless (decision 0019).
    assert all(found == list(range(1, len(found) + 1)) for found in stripes.values())
    assert verify_tenant_chain(tenant) == (sum(map(len, stripes.values())), None)
