"""The rider's call button: the relay's reveal keeps its audit event whatever happens next,
and no relay call (bind or release) runs inside a transaction or under the order's lock.

Transactional tests (``transaction=True``): they must see what really committed."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from django.db import DatabaseError, connection, connections, transaction
from django.test import Client
from django.urls import reverse

from audits.models import AuditEvent
from orders.models import Order
from privacy.api import Purpose, RevealDenied
from riders.delivery import call_customer, confirm_pickup
from riders.dispatch import assign_rider
from riders.models import Assignment
from riders.relay import RelayBackend, RelayUnavailable, relay_backend
from tenants.scoping import tenant_scope
from tests.riders.conftest import Delivery, make_rider

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

PHONE = "13912345678"


class FakeRelay(RelayBackend):
    """Records, at each call, whether it ran inside a transaction; can be told to fail or to
    run something during the bind (another user's change while the rider waits)."""

    calls: ClassVar[list[tuple[str, int, bool]]] = []
    fail: ClassVar[set[str]] = set()
    during_bind: ClassVar[Any] = None

    def bind(self, *, assignment_id: int, customer_phone: str) -> str:
        FakeRelay.calls.append(("bind", assignment_id, connection.in_atomic_block))
        if FakeRelay.during_bind is not None:
            FakeRelay.during_bind()
        if "bind" in FakeRelay.fail:
            raise ConnectionError(f"relay down while dialling {customer_phone}")
        return "+86 950 0000 0042"

    def release(self, *, assignment_id: int) -> None:
        FakeRelay.calls.append(("release", assignment_id, connection.in_atomic_block))
        if "release" in FakeRelay.fail:
            raise ConnectionError("relay down")


@pytest.fixture(autouse=True)
def fake_relay(settings: Any) -> Iterator[type[FakeRelay]]:
    settings.BAOMI_CALL_RELAY_BACKEND = f"{__name__}.FakeRelay"
    relay_backend.cache_clear()
    FakeRelay.calls, FakeRelay.fail, FakeRelay.during_bind = [], set(), None
    yield FakeRelay
    relay_backend.cache_clear()


def _actions(delivery: Delivery) -> list[str]:
    with tenant_scope(delivery.tenant):
        return list(AuditEvent.objects.order_by("sequence").values_list("action", flat=True))


def _assignment_id(delivery: Delivery) -> int:
    with tenant_scope(delivery.tenant):
        return int(delivery.rider.assignments.get().pk)


def _picked_up(delivery: Delivery) -> None:
    confirm_pickup(
        order=delivery.order,
        user=delivery.rider.user,
        code=delivery.order.code,
        seal_number="SEAL-4242",
    )


def test_a_failing_bind_leaves_the_reveal_on_record_and_no_relay_call(
    delivery: Delivery,
) -> None:
    _picked_up(delivery)
    FakeRelay.fail = {"bind"}
    with pytest.raises(RelayUnavailable) as raised:
        call_customer(order=delivery.order, user=delivery.rider.user)
    actions = _actions(delivery)
    assert (
        "privacy.reveal" in actions,
        "riders.relay_call" in actions,
        PHONE in str(raised.value),
        raised.value.__cause__,
    ) == (True, False, False, None)


def test_a_failing_bind_is_a_message_on_the_rider_page_not_a_500(
    client: Client, delivery: Delivery
) -> None:
    _picked_up(delivery)
    FakeRelay.fail = {"bind"}
    client.force_login(delivery.rider.user)
    response = client.post(
        reverse("riders:call", args=[delivery.order.pk]), follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )
    html = response.content.decode()
    assert (
        response.status_code,
        "The call relay is not answering. Try again in a minute" in html,
        PHONE in html,
        "privacy.reveal" in _actions(delivery),
    ) == (200, True, False, True)


def test_the_bind_runs_outside_any_transaction(delivery: Delivery) -> None:
    number = call_customer(order=delivery.order, user=delivery.rider.user)
    assert (number, FakeRelay.calls, _actions(delivery)[-2:]) == (
        "+86 950 0000 0042",
        [("bind", _assignment_id(delivery), False)],
        ["privacy.reveal", "riders.relay_call"],
    )


def test_another_connection_can_lock_the_order_during_the_bind(delivery: Delivery) -> None:
    """On PostgreSQL: while the relay binds, the order's row is not locked (NOWAIT)."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    outcome: list[str] = []

    def lock_from_another_connection() -> None:
        try:
            with tenant_scope(delivery.tenant), transaction.atomic():
                Order.objects.select_for_update(nowait=True).get(pk=delivery.order.pk)
            outcome.append("locked")
        except DatabaseError:
            outcome.append("busy")
        finally:
            for conn in connections.all():
                conn.close()

    def during_bind() -> None:
        thread = threading.Thread(target=lock_from_another_connection)
        thread.start()
        thread.join(30)

    FakeRelay.during_bind = during_bind
    call_customer(order=delivery.order, user=delivery.rider.user)
    assert outcome == ["locked"]


def test_a_refused_reveal_stays_on_record(
    delivery: Delivery, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The vault's table refuses the phone to a system job for any purpose but its own.
    monkeypatch.setattr("riders.delivery.RELAY_PURPOSE", Purpose.DELIVERY)
    with pytest.raises(RevealDenied):
        call_customer(order=delivery.order, user=delivery.rider.user)
    assert (_actions(delivery)[-1], FakeRelay.calls) == ("privacy.reveal_denied", [])


def test_a_failed_reveal_of_a_shredded_key_stays_on_record(delivery: Delivery) -> None:
    """The key is gone but the order still live: an erasure that crashed between the key
    store and its commit (a completed erasure withdraws the order: tests/orders/
    test_erasure_withdraws_orders.py)."""
    from privacy.api import SubjectErasedError
    from privacy.keys import destroy_subject_key

    destroy_subject_key(delivery.tenant, delivery.order.subject_id)
    with pytest.raises(SubjectErasedError):
        call_customer(order=delivery.order, user=delivery.rider.user)
    assert (_actions(delivery)[-1], FakeRelay.calls) == ("privacy.reveal_failed", [])


def test_another_riders_order_is_refused_before_any_reveal(delivery: Delivery) -> None:
    other = make_rider(delivery.tenant)
    before = _actions(delivery)
    with pytest.raises(Order.DoesNotExist):
        call_customer(order=delivery.order, user=other.user)
    assert (_actions(delivery), FakeRelay.calls) == (before, [])


def test_an_assignment_ended_during_the_bind_releases_the_number(delivery: Delivery) -> None:
    other = make_rider(delivery.tenant)
    assignment = _assignment_id(delivery)
    FakeRelay.during_bind = lambda: assign_rider(
        order=delivery.order, rider=other, actor=delivery.dispatcher
    )
    with pytest.raises(Order.DoesNotExist):
        call_customer(order=delivery.order, user=delivery.rider.user)
    # Released twice: once after the reassignment committed, once by the call itself.
    assert (
        "riders.relay_call" in _actions(delivery),
        [c for c in FakeRelay.calls if c[0] == "release"],
    ) == (False, [("release", assignment, False)] * 2)


def test_the_end_of_an_assignment_releases_after_the_commit_and_survives_a_failure(
    delivery: Delivery, caplog: pytest.LogCaptureFixture
) -> None:
    FakeRelay.fail = {"release"}
    caplog.set_level(logging.ERROR, logger="riders.relay")
    assignment = _assignment_id(delivery)
    assign_rider(order=delivery.order, rider=make_rider(delivery.tenant), actor=delivery.dispatcher)
    with tenant_scope(delivery.tenant):
        ended = Assignment.objects.get(pk=assignment).ended_at is not None
    assert (
        ended,
        FakeRelay.calls,
        [r.getMessage() for r in caplog.records],
    ) == (
        True,
        [("release", assignment, False)],
        [f"relay: release of assignment {assignment} failed (ConnectionError); release it by hand"],
    )
