from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from audits.models import AuditEvent
from core.errors import Conflict
from orders.lifecycle import do_check_delivery_pin, transition_order
from orders.models import Order, OrderTransition, Status
from tenants.actors import SystemActor
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")
RIDER = SystemActor("rider-flow")  # the rider flow (next issue) calls the PIN check


def _cook(order: Order):
    return UserFactory(tenant=order.tenant, roles=[Role.KITCHEN])


def test_every_transition_is_timestamped_attributed_and_audited() -> None:
    order = OrderFactory()
    cook = _cook(order)
    transition_order(order=order, to=Status.PREPARING, actor=cook)
    with tenant_scope(order.tenant):
        steps = list(
            OrderTransition.objects.filter(order=order).values_list(
                "from_status", "to_status", "actor"
            )
        )
        event = AuditEvent.objects.filter(action="order.transition").get()
    assert (steps[-1], event.details) == (
        ("received", "preparing", f"user:{cook.pk}"),
        {"from": "received", "to": "preparing"},
    )


def test_a_finished_order_moves_nowhere() -> None:
    order = OrderFactory()
    agent = UserFactory(tenant=order.tenant, roles=[Role.CUSTOMER_SERVICE])
    transition_order(order=order, to=Status.CANCELLED, actor=agent)
    with pytest.raises(Conflict) as error:
        transition_order(order=order, to=Status.PREPARING, actor=_cook(order))
    assert (error.value.message, error.value.extra) == (
        "An order that is cancelled cannot become preparing.",
        {"status": "cancelled", "allowed": []},
    )


def test_assignment_is_not_reached_by_the_generic_transition() -> None:
    order = OrderFactory()
    transition_order(order=order, to=Status.PREPARING, actor=_cook(order))
    packer = UserFactory(tenant=order.tenant, roles=[Role.PACKER])
    transition_order(order=order, to=Status.PACKED, actor=packer, seal_number="SEAL-1")
    with pytest.raises(Conflict, match="Moving an order to assigned goes through assign a rider."):
        transition_order(order=order, to=Status.ASSIGNED, actor=packer)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_two_concurrent_transitions_of_one_order_cannot_both_succeed() -> None:
    order = OrderFactory()
    cook = _cook(order)
    other_cook = _cook(order)
    barrier, outcomes = threading.Barrier(2), []

    def attempt(to: str, actor) -> None:
        try:
            barrier.wait()
            transition_order(order=order, to=to, actor=actor)
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")
        finally:
            connections.close_all()

    # Both ask for the same move: one wins, the other finds the order already moved.
    threads = [
        threading.Thread(target=attempt, args=(Status.PREPARING, cook)),
        threading.Thread(target=attempt, args=(Status.PREPARING, other_cook)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with tenant_scope(order.tenant):
        transitions = OrderTransition.objects.filter(order=order).count()
    assert (sorted(outcomes), transitions) == (["conflict", "ok"], 2)


def test_correct_pin_is_accepted() -> None:
    order = OrderFactory()
    assert do_check_delivery_pin(order=order, pin=order.delivery_pin, actor=RIDER).accepted


def test_wrong_pin_says_how_many_attempts_remain() -> None:
    order = OrderFactory()
    wrong = "000000" if order.delivery_pin != "000000" else "111111"
    checks = [do_check_delivery_pin(order=order, pin=wrong, actor=RIDER) for _ in range(2)]
    assert [(c.accepted, c.attempts_left) for c in checks] == [(False, 4), (False, 3)]


def test_fifth_wrong_pin_locks_the_order() -> None:
    order = OrderFactory()
    wrong = "000000" if order.delivery_pin != "000000" else "111111"
    for _ in range(5):
        last = do_check_delivery_pin(order=order, pin=wrong, actor=RIDER)
    with pytest.raises(Conflict, match="locked"):
        do_check_delivery_pin(order=order, pin=order.delivery_pin, actor=RIDER)
    assert (last.attempts_left, order.pin_locked_at is not None) == (0, True)


@pytest.mark.parametrize("pin", ["", "12345", "1234567", "abcdef", None, "１２３４５６"])
def test_malformed_pins_count_as_wrong(pin: object) -> None:
    order = OrderFactory()
    assert do_check_delivery_pin(order=order, pin=pin, actor=RIDER).attempts_left == 4


def test_pin_of_another_order_does_not_open_this_one() -> None:
    first, second = OrderFactory(), OrderFactory()
    if first.delivery_pin == second.delivery_pin:
        pytest.skip("the two random PINs coincide")
    assert not do_check_delivery_pin(order=second, pin=first.delivery_pin, actor=RIDER).accepted


def test_returning_customer_keeps_one_subject() -> None:
    first = OrderFactory()
    second = OrderFactory(
        tenant=first.tenant,
        customer={
            "name": "欧阳娜娜",
            "phone": "+86 139 1234 5678",
            "address": "北京市朝阳区建国路1号",
        },
    )
    assert second.subject_id == first.subject_id


def test_a_taken_order_code_is_drawn_again_in_the_same_transaction(monkeypatch) -> None:
    import orders.intake as intake

    first = OrderFactory()
    codes = iter([first.code, "AAAAA-BBBBB"])
    monkeypatch.setattr(intake, "_new_code", lambda: next(codes))
    second = OrderFactory(tenant=first.tenant)
    with tenant_scope(first.tenant):
        stored = Order.objects.get(pk=second.pk)
        transitions = OrderTransition.objects.filter(order=second).count()
        created = AuditEvent.objects.filter(action="order.created", object_id=str(second.pk))
        assert (stored.code, transitions, created.count()) == ("AAAAA-BBBBB", 1, 1)


def test_when_no_free_code_is_found_nothing_is_written(monkeypatch) -> None:
    import orders.intake as intake

    first = OrderFactory()
    monkeypatch.setattr(intake, "_new_code", lambda: first.code)
    with tenant_scope(first.tenant):
        before = (Order.objects.count(), AuditEvent.objects.count())
    with pytest.raises(Conflict, match="Could not allocate an order code"):
        OrderFactory(tenant=first.tenant)
    with tenant_scope(first.tenant):
        assert (Order.objects.count(), AuditEvent.objects.count()) == before
