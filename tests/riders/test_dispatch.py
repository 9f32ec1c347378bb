from __future__ import annotations

import pytest
from django.test import Client

from audits.models import AuditEvent
from core.errors import Conflict
from orders.lifecycle import transition_order
from orders.models import Status
from riders.agreements import publish_agreement
from riders.dispatch import assign_rider, auto_assign
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.factories import TenantFactory, UserFactory
from tests.riders.conftest import SYSTEM, Delivery, make_rider, packed_order, perm_rows, refreshed

pytestmark = pytest.mark.django_db(databases="__all__")


def _assign(client: Client, dispatcher, order, body) -> object:
    client.force_login(dispatcher)
    return client.post(
        f"/api/v1/orders/{order.pk}/assign/",
        data=body,
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )


def test_assignment_grants_the_rider_the_object_permission(delivery: Delivery) -> None:
    assert (refreshed(delivery.order).status, perm_rows(delivery.order)) == (
        "assigned",
        [delivery.rider.user_id],
    )


def test_rider_without_a_signature_is_refused_with_409_naming_it(client: Client) -> None:
    tenant = TenantFactory()
    order, rider = packed_order(tenant), make_rider(tenant, signed=False)
    dispatcher = UserFactory(tenant=tenant, roles=[Role.DISPATCHER])
    response = _assign(client, dispatcher, order, {"rider": rider.pk})
    assert (response.status_code, response.json()["missing"], perm_rows(order)) == (
        409,
        ["no signature of confidentiality agreement v1"],
        [],
    )


def test_a_new_agreement_version_needs_a_new_signature(client: Client) -> None:
    tenant = TenantFactory()
    order, rider = packed_order(tenant), make_rider(tenant)
    publish_agreement(tenant=tenant, actor=SYSTEM, text_zh="第二版", text_en="Version two")
    response = _assign(
        client, UserFactory(tenant=tenant, roles=[Role.DISPATCHER]), order, {"rider": rider.pk}
    )
    assert (response.status_code, response.json()["missing"]) == (
        409,
        ["no signature of confidentiality agreement v2"],
    )


def test_rider_off_shift_is_refused(client: Client) -> None:
    tenant = TenantFactory()
    order, rider = packed_order(tenant), make_rider(tenant, on_shift=False)
    response = _assign(
        client, UserFactory(tenant=tenant, roles=[Role.DISPATCHER]), order, {"rider": rider.pk}
    )
    assert (response.status_code, response.json()["missing"]) == (
        409,
        ["the rider is not on shift"],
    )


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"rider": 999999}, {"rider": ["No such rider."]}),
        ({"rider": "x"}, {"rider": ["A valid integer is required."]}),
        ({}, {"rider": ["This field is required."]}),
        (
            {"rider": 1, "note": "x"},
            {"note": ["Unknown field: Baomi collects only what delivery needs."]},
        ),
    ],
)
def test_bad_assign_requests_are_400(client: Client, body: dict, errors: dict) -> None:
    tenant = TenantFactory()
    order = packed_order(tenant)
    response = _assign(client, UserFactory(tenant=tenant, roles=[Role.DISPATCHER]), order, body)
    assert (response.status_code, response.json()) == (400, errors)


def test_another_tenants_rider_is_no_such_rider(client: Client) -> None:
    tenant = TenantFactory()
    order, theirs = packed_order(tenant), make_rider(TenantFactory())
    response = _assign(
        client, UserFactory(tenant=tenant, roles=[Role.DISPATCHER]), order, {"rider": theirs.pk}
    )
    assert (response.status_code, response.json()) == (400, {"rider": ["No such rider."]})


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (r, 404 if r in (Role.KITCHEN, Role.PACKER) else 403)
        for r in Role
        if r not in (Role.DISPATCHER, Role.RIDER)
    ],
)
def test_only_dispatchers_assign(client: Client, role: Role, status: int) -> None:
    # The kitchen and packers cannot even open the order here (404); others may see it (403).
    tenant = TenantFactory()
    order, rider = packed_order(tenant), make_rider(tenant)
    assert (
        _assign(
            client, UserFactory(tenant=tenant, roles=[role]), order, {"rider": rider.pk}
        ).status_code
        == status
    )


def test_unpacked_order_cannot_be_assigned(client: Client) -> None:
    from tests.factories import OrderFactory

    tenant = TenantFactory()
    order, rider = OrderFactory(tenant=tenant), make_rider(tenant)
    response = _assign(
        client, UserFactory(tenant=tenant, roles=[Role.DISPATCHER]), order, {"rider": rider.pk}
    )
    assert response.status_code == 409


def test_reassignment_moves_the_permission(delivery: Delivery) -> None:
    other = make_rider(delivery.tenant)
    assign_rider(order=delivery.order, rider=other, actor=delivery.dispatcher)
    with tenant_scope(delivery.tenant):
        actions = list(
            AuditEvent.objects.filter(
                action__in=["riders.order_assigned", "riders.order_unassigned"]
            ).values_list("action", flat=True)
        )
    assert (perm_rows(delivery.order), actions) == (
        [other.user_id],
        ["riders.order_assigned", "riders.order_unassigned", "riders.order_assigned"],
    )


def test_auto_assign_picks_the_least_loaded_eligible_rider(delivery: Delivery) -> None:
    idle = make_rider(delivery.tenant)
    make_rider(delivery.tenant, signed=False)
    assignment = auto_assign(order=packed_order(delivery.tenant), actor=delivery.dispatcher)
    assert assignment.rider_id == idle.pk


def test_auto_assign_without_eligible_riders_is_409(client: Client) -> None:
    tenant = TenantFactory()
    order = packed_order(tenant)
    make_rider(tenant, on_shift=False)
    client.force_login(UserFactory(tenant=tenant, roles=[Role.DISPATCHER]))
    response = client.post(f"/api/v1/orders/{order.pk}/auto-assign/", HTTP_ACCEPT_LANGUAGE="en")
    assert (response.status_code, response.json()["missing"]) == (409, ["rider"])


def test_cancelling_an_assigned_order_revokes_the_permission_in_the_same_step(
    delivery: Delivery,
) -> None:
    agent = UserFactory(tenant=delivery.tenant, roles=[Role.CUSTOMER_SERVICE])
    transition_order(order=delivery.order, to=Status.CANCELLED, actor=agent)
    assert perm_rows(delivery.order) == []


def test_assigning_twice_to_the_same_rider_changes_nothing(delivery: Delivery) -> None:
    again = assign_rider(order=delivery.order, rider=delivery.rider, actor=delivery.dispatcher)
    assert (again.rider_id, perm_rows(delivery.order)) == (
        delivery.rider.pk,
        [delivery.rider.user_id],
    )


def test_dispatch_in_the_admin(client: Client) -> None:
    tenant = TenantFactory()
    order, rider = packed_order(tenant), make_rider(tenant)
    client.force_login(UserFactory(tenant=tenant, roles=[Role.DISPATCHER]))
    page = client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    client.post(f"/admin/orders/order/{order.pk}/assign/", {"rider": rider.pk})
    assert ('id="dispatch"' in page, perm_rows(order)) == (True, [rider.user_id])


def test_conflict_message_names_the_rider_and_reason() -> None:
    tenant = TenantFactory()
    order, rider = packed_order(tenant), make_rider(tenant, signed=False, username="wang-rider")
    with pytest.raises(Conflict, match="wang-rider cannot be dispatched: no signature"):
        assign_rider(
            order=order, rider=rider, actor=UserFactory(tenant=tenant, roles=[Role.DISPATCHER])
        )


def _eligibility_queries(count: int) -> tuple[int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from riders.selectors import dispatch_choices, eligible_riders

    tenant = TenantFactory()
    for index in range(count):
        make_rider(tenant, signed=index % 2 == 0)
    with CaptureQueriesContext(connection) as eligible:
        found = eligible_riders(tenant)
    with tenant_scope(tenant), CaptureQueriesContext(connection) as choices:
        listed = dispatch_choices()
    assert (len(found), len(listed)) == ((count + 1) // 2, count)
    return len(eligible), len(choices)


def test_eligibility_of_many_riders_takes_as_many_queries_as_of_one() -> None:
    assert _eligibility_queries(1) == _eligibility_queries(20)
