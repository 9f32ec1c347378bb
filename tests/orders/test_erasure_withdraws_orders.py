"""Erasure meets live orders: an erased customer's unfinished orders leave the kitchen and
rider flow (cancelled before pickup, failed after), each with a data-erased anomaly for
customer service; no station page keeps failing to reveal them (docs/privacy.md)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from audits.models import AuditEvent
from incidents.models import AnomalyKind, OrderAnomaly
from orders.lifecycle import mark_food_ready, transition_order
from orders.models import Order, OrderUserObjectPermission, Status
from privacy.erasure import erase_subject
from privacy.models import ErasureReason
from riders.delivery import confirm_pickup, hand_over_with_pin, hold_order
from riders.dispatch import assign_rider
from riders.models import Assignment, EndReason
from tenants.actors import SystemActor
from tenants.models import Role, Tenant
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, TenantFactory, UserFactory
from tests.riders.conftest import make_rider, packed_order

pytestmark = pytest.mark.django_db(databases="__all__")
SYSTEM = SystemActor("tests")
CUSTOMER = {"name": "欧阳娜娜", "phone": "13912345678", "address": "上海市浦东新区张江路88号"}


def _order(tenant: Tenant, status: str) -> Order:
    """One order of CUSTOMER brought to ``status`` through the real flows."""
    kitchen = UserFactory(tenant=tenant, roles=[Role.KITCHEN])
    if status in (Status.RECEIVED, Status.PREPARING, "food_ready"):
        order = OrderFactory(tenant=tenant, customer=CUSTOMER)
        if status != Status.RECEIVED:
            transition_order(order=order, to=Status.PREPARING, actor=kitchen)
        if status == "food_ready":
            mark_food_ready(order=order, actor=kitchen)
        return order
    order = packed_order(tenant)  # the default customer is CUSTOMER's phone too
    if status == Status.PACKED:
        return order
    rider = make_rider(tenant)
    assign_rider(
        order=order, rider=rider, actor=UserFactory(tenant=tenant, roles=[Role.DISPATCHER])
    )
    if status == Status.ASSIGNED:
        return order
    confirm_pickup(order=order, user=rider.user, code=order.code, seal_number="SEAL-4242")
    if status == Status.HELD:
        hold_order(order=order, user=rider.user, location="rider_station")
    elif status == Status.DELIVERED:
        hand_over_with_pin(order=order, user=rider.user, pin=order.delivery_pin)
    elif status == Status.CANCELLED:
        raise AssertionError("cancelled orders are made before pickup")
    return order


def _erase(order: Order, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        erase_subject(
            tenant=order.tenant,
            subject_id=order.subject_id,
            reason=ErasureReason.STAFF_REQUEST,
            actor=SYSTEM,
        )


def _state(orders: dict[str, Order]) -> dict[str, str]:
    with tenant_scope(next(iter(orders.values())).tenant):
        found = {
            o.pk: o.status for o in Order.objects.filter(pk__in=[o.pk for o in orders.values()])
        }
    return {name: found[order.pk] for name, order in orders.items()}


STARTS = ["received", "preparing", "food_ready", "packed", "assigned", "picked_up", "held"]


def test_erasure_withdraws_every_live_order_by_the_rule(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    tenant = TenantFactory()
    orders = {name: _order(tenant, name) for name in [*STARTS, "delivered"]}
    assert len({o.subject_id for o in orders.values()}) == 1  # one customer, matched by phone
    _erase(orders["received"], django_capture_on_commit_callbacks)
    with tenant_scope(tenant):
        anomalies = sorted(
            str(a.order_id) for a in OrderAnomaly.objects.filter(kind=AnomalyKind.DATA_ERASED)
        )
        live_assignments = Assignment.objects.filter(ended_at__isnull=True).count()
        ended = sorted(Assignment.objects.values_list("end_reason", flat=True))
        rider_permissions = OrderUserObjectPermission.objects.count()
        reasons = {
            e.object_id: e.details.get("reason")
            for e in AuditEvent.objects.filter(action="order.transition", actor="system:erasure")
        }
    assert _state(orders) == {
        "received": "cancelled",
        "preparing": "cancelled",
        "food_ready": "cancelled",
        "packed": "cancelled",
        "assigned": "cancelled",
        "picked_up": "failed",
        "held": "failed",
        "delivered": "delivered",
    }
    assert anomalies == sorted(str(orders[n].pk) for n in STARTS)
    assert (live_assignments, rider_permissions) == (0, 0)
    assert ended == sorted(
        [EndReason.CANCELLED, EndReason.FAILED, EndReason.FAILED, EndReason.DELIVERED]
    )
    assert reasons == {str(orders[n].pk): "customer_data_erased" for n in STARTS}


def test_the_stations_show_no_erased_order_and_log_no_failed_reveal(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    tenant = TenantFactory()
    erased = [_order(tenant, s) for s in ("received", "preparing", "food_ready")]
    other = OrderFactory(
        tenant=tenant, customer={"name": "王五", "phone": "13800001111", "address": "北京市A路1号"}
    )
    _erase(erased[0], django_capture_on_commit_callbacks)
    pages = ""
    for role, url in ((Role.KITCHEN, "orders:kitchen"), (Role.PACKER, "orders:packing")):
        client.force_login(UserFactory(tenant=tenant, roles=[role]))
        for _reload in range(2):
            pages += client.get(reverse(url)).content.decode()
    with tenant_scope(tenant):
        failures = AuditEvent.objects.filter(
            action__in=["privacy.reveal_failed", "privacy.reveal_batch_failed"]
        ).count()
    assert ([o.code for o in erased if o.code in pages], other.code in pages, failures) == (
        [],
        True,
        0,
    )


def test_an_erased_order_leaves_the_station_even_before_it_is_withdrawn() -> None:
    """The selectors filter erased customers themselves (an erasure's receivers run after
    its commit; a page load in between must not try to reveal)."""
    from orders.selectors import kitchen_board

    order = OrderFactory()
    cook = UserFactory(tenant=order.tenant, roles=[Role.KITCHEN])
    # Without capturing on-commit callbacks the test's transaction never commits: the
    # subject is erased, its order not yet withdrawn.
    erase_subject(
        tenant=order.tenant,
        subject_id=order.subject_id,
        reason=ErasureReason.ADMINISTRATOR,
        actor=SYSTEM,
    )
    with tenant_scope(order.tenant):
        status = Order.objects.get(pk=order.pk).status
        board = kitchen_board(cook, 50)
    assert (status, board.received, board.counts["received"]) == (Status.RECEIVED, [], 0)


def test_erasing_a_customer_whose_orders_are_finished_changes_nothing(
    django_capture_on_commit_callbacks: Any,
) -> None:
    tenant = TenantFactory()
    delivered = _order(tenant, "delivered")
    cancelled = OrderFactory(tenant=tenant, customer=CUSTOMER)
    transition_order(
        order=cancelled,
        to=Status.CANCELLED,
        actor=UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE]),
    )
    with tenant_scope(tenant):
        before = AuditEvent.objects.filter(action="order.transition").count()
    _erase(delivered, django_capture_on_commit_callbacks)
    with tenant_scope(tenant):
        after = AuditEvent.objects.filter(action="order.transition").count()
        anomalies = OrderAnomaly.objects.count()
    assert (
        _state({"d": delivered, "c": cancelled}),
        after - before,
        anomalies,
    ) == ({"d": "delivered", "c": "cancelled"}, 0, 0)


def test_erasing_again_withdraws_nothing_twice(django_capture_on_commit_callbacks: Any) -> None:
    order = _order(TenantFactory(), "preparing")
    _erase(order, django_capture_on_commit_callbacks)
    _erase(order, django_capture_on_commit_callbacks)
    with tenant_scope(order.tenant):
        anomalies = OrderAnomaly.objects.filter(order=order).count()
    assert (_state({"o": order}), anomalies) == ({"o": "cancelled"}, 1)


def test_a_failing_receiver_is_logged_without_customer_data_and_the_erasure_stands(
    django_capture_on_commit_callbacks: Any, caplog: Any
) -> None:
    """A receiver that fails after the erasure committed is logged (its type only); the
    erasure itself is not undone and its caller sees no error."""
    from privacy.api import subjects_erased

    def broken(**_: Any) -> None:
        raise LookupError("13912345678")

    subjects_erased.connect(broken, dispatch_uid="tests.broken")
    try:
        order = OrderFactory()
        _erase(order, django_capture_on_commit_callbacks)
    finally:
        subjects_erased.disconnect(dispatch_uid="tests.broken")
    from privacy.models import DataSubject

    with tenant_scope(order.tenant):
        erased_at = DataSubject.objects.get(pk=order.subject_id).erased_at
    assert (
        erased_at is not None,
        _state({"o": order}),
        "LookupError" in caplog.text,
        "13912345678" in caplog.text,
    ) == (True, {"o": "cancelled"}, True, False)


def test_an_erased_customers_order_page_offers_no_reveal_and_says_why(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    tenant = TenantFactory()
    order = _order(tenant, "received")
    _erase(order, django_capture_on_commit_callbacks)
    client.force_login(UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE]))
    page = client.get(
        reverse("admin:orders_order_change", args=[order.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert ('id="reveal-form"' in page, "Personal data erased" in page) == (False, True)
