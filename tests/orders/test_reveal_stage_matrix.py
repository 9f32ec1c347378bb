"""Who may reveal which field of an order, for which purpose, at which status: role × field ×
purpose × status, for every status of the lifecycle and every role — the rider with and
without the assignment. Written out by hand: the policy under test, not a copy of
privacy.permissions. (Every role × field × purpose, regardless of stage, is
tests/privacy/test_reveal.py; the API and the rider page, tests/riders/test_address_reveal.py.)"""

from __future__ import annotations

import pytest
from guardian.shortcuts import assign_perm

from audits.models import AuditEvent
from orders.models import Order, Status
from orders.selectors import STATION_STATUSES
from privacy.errors import RevealDenied
from privacy.permissions import REVEAL_RULES, Purpose
from privacy.reveal import may_reveal, reveal
from tenants.models import Role, User
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")

UNASSIGNED_RIDER = "rider_without_assignment"
ACTORS = [*Role.values, UNASSIGNED_RIDER]
FIELDS = ["name", "phone", "address", "note", "items"]
# Each actor asks for the purpose of its work; roles without one try a customer-service call.
PURPOSE = {
    Role.PRIVACY_OFFICER: Purpose.INCIDENT_INVESTIGATION,
    Role.KITCHEN: Purpose.FOOD_PREPARATION,
    Role.PACKER: Purpose.PACKING,
    Role.RIDER: Purpose.DELIVERY,
    UNASSIGNED_RIDER: Purpose.DELIVERY,
}
EVERY_STATUS = frozenset(Status.values)
# actor -> (fields, statuses) it may reveal with its purpose.
ALLOWED: dict[str, tuple[set[str], frozenset[str]]] = {
    Role.CUSTOMER_SERVICE: ({"name", "phone", "address", "note"}, EVERY_STATUS),
    Role.PRIVACY_OFFICER: (set(FIELDS), EVERY_STATUS),
    Role.KITCHEN: ({"items", "note"}, frozenset({Status.RECEIVED, Status.PREPARING})),
    Role.PACKER: ({"items"}, frozenset({Status.PREPARING, Status.PACKED})),
    # From the pickup until the order is finished, and only the rider holding it.
    Role.RIDER: ({"address", "note"}, frozenset({Status.PICKED_UP, Status.HELD})),
}


def expected(actor: str, field: str, status: str) -> bool:
    fields, statuses = ALLOWED.get(actor, (set(), frozenset()))
    return field in fields and status in statuses


ROWS = [
    (
        actor,
        field,
        PURPOSE.get(actor, Purpose.CUSTOMER_SERVICE_CALL),
        status,
        expected(actor, field, status),
    )
    for actor in ACTORS
    for field in FIELDS
    for status in Status.values
]


def _order_at(status: str) -> Order:
    order = OrderFactory()
    with tenant_scope(order.tenant):
        # The lifecycle's own paths are tested in tests/orders/test_lifecycle.py and the
        # rider flow in tests/riders; here only the status matters.
        Order.objects.filter(pk=order.pk).update(status=status)
        return Order.objects.get(pk=order.pk)


def _actor(actor: str, order: Order) -> User:
    role = Role.RIDER if actor == UNASSIGNED_RIDER else actor
    user = UserFactory(tenant=order.tenant, roles=[role])
    if actor == Role.RIDER:
        assign_perm("orders.deliver_order", user, order)  # what assign_rider grants
    return user


def _last_event(order: Order) -> tuple[str, list[str], str]:
    with tenant_scope(order.tenant):
        event = AuditEvent.objects.order_by("-sequence").first()
    return event.action, event.fields, event.purpose


@pytest.mark.parametrize(("actor", "field", "purpose", "status", "allowed"), ROWS)
def test_reveal_by_status_matrix(
    actor: str, field: str, purpose: Purpose, status: str, allowed: bool
) -> None:
    order = _order_at(status)
    user = _actor(actor, order)
    predicted = may_reveal(order, fields=[field], actor=user, purpose=purpose)
    outcome = "denied"
    try:
        reveal(order, fields=[field], actor=user, purpose=purpose)
        outcome = "revealed"
    except RevealDenied:
        pass
    assert (outcome, predicted, _last_event(order)) == (
        "revealed" if allowed else "denied",
        allowed,
        ("privacy.reveal" if allowed else "privacy.reveal_denied", [field], purpose.value),
    )


def test_the_matrix_covers_every_actor_field_and_status() -> None:
    every = {(a, f, s) for a in ACTORS for f in FIELDS for s in Status.values}
    assert {(a, f, s) for a, f, _, s, _ in ROWS} == every


@pytest.mark.parametrize(
    ("actor", "status", "message"),
    [
        (
            Role.RIDER,
            Status.ASSIGNED,
            "Not at this stage: the order is “Assigned to a rider”; Address may be revealed "
            "for this purpose only at: Picked up, Held in temporary storage.",
        ),
        (
            Role.RIDER,
            Status.DELIVERED,
            "Not at this stage: the order is “Delivered”; Address may be revealed "
            "for this purpose only at: Picked up, Held in temporary storage.",
        ),
        (UNASSIGNED_RIDER, Status.PICKED_UP, "You are not assigned to this record."),
    ],
)
def test_a_refused_rider_reveal_names_the_reason(actor: str, status: str, message: str) -> None:
    order = _order_at(status)
    with pytest.raises(RevealDenied) as refused:
        reveal(order, fields=["address"], actor=_actor(actor, order), purpose=Purpose.DELIVERY)
    assert str(refused.value) == message


def test_an_agent_who_is_also_a_rider_reveals_for_a_customer_call_at_any_stage() -> None:
    order = _order_at(Status.ASSIGNED)
    agent = UserFactory(tenant=order.tenant, roles=[Role.CUSTOMER_SERVICE, Role.RIDER])
    values = reveal(order, fields=["address"], actor=agent, purpose=Purpose.CUSTOMER_SERVICE_CALL)
    assert values == {"address": "上海市浦东新区张江路88号7栋1201室"}


def test_every_stage_a_reveal_rule_names_is_an_order_status() -> None:
    named = {s for rule in REVEAL_RULES.values() for s in rule.stages or ()}
    assert named <= set(Status.values)


@pytest.mark.parametrize("role", sorted(STATION_STATUSES))
def test_every_status_a_station_shows_is_one_its_role_may_reveal_at(role: str) -> None:
    assert set(STATION_STATUSES[role]) <= ALLOWED[role][1]
