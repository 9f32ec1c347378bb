"""Issue 21, point 5: a reveal on PostgreSQL is one read of the key store and one statement
on the main database that checks the actor's suspensions and the training gate's kept
decision and appends the chained event, committed on its own (no Redis command) — with nothing
weakened: one event per reveal that survives the caller's rollback, a revoked permission,
a lapsed pass or a suspension refused on the very next reveal, another tenant's order a
404, and a key store that is down a 503.

Real transactions (``transaction=True``): the statement commits by itself, as in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis.connection
from django.db import connection, connections, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from guardian.shortcuts import remove_perm

from audits.models import AuditEvent
from audits.verification import verify_tenant_chain
from orders.models import Order
from privacy.errors import RevealDenied, RevealSuspended, RevealUntrained
from privacy.permissions import Purpose
from privacy.reveal import reveal
from riders.delivery import confirm_pickup
from riders.dispatch import assign_rider
from tenants.actors import SystemActor, actor_label
from tenants.models import Role, SuspensionScope, Tenant, User
from tenants.scoping import tenant_scope
from tenants.services import revoke_role
from tenants.suspensions import suspend
from tests.factories import OrderFactory, TenantFactory, UserFactory
from tests.riders.conftest import make_rider, packed_order
from tests.training.conftest import cleared_staff
from training.clearance import add_months
from training.models import QuizAttempt
from training.starter import ALL_STAFF, seed_training

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

ON_POSTGRESQL = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the one-statement reveal is PostgreSQL's"
)
SYSTEM = SystemActor("tests")
CALL = Purpose.CUSTOMER_SERVICE_CALL
PHONE = {"phone": "13912345678"}


class CallerFailed(Exception):
    pass


@pytest.fixture
def tenant() -> Tenant:
    tenant = TenantFactory()
    seed_training(tenant, SYSTEM)  # customer service is gated: induction course and pledge
    return tenant


@pytest.fixture
def order(tenant: Tenant) -> Order:
    return OrderFactory(tenant=tenant)


@pytest.fixture
def agent(tenant: Tenant) -> User:
    return cleared_staff(tenant, Role.CUSTOMER_SERVICE)


def _reveal(order: Order, user: User) -> dict[str, str]:
    return reveal(order, fields=["phone"], actor=user, purpose=CALL)


def _actions(tenant: Tenant) -> list[str]:
    with tenant_scope(tenant):
        return list(
            AuditEvent.objects.filter(action__startswith="privacy.reveal")
            .order_by("sequence")
            .values_list("action", flat=True)
        )


def _last(tenant: Tenant, action: str) -> AuditEvent:
    with tenant_scope(tenant):
        return AuditEvent.objects.filter(action=action).latest("sequence")


@pytest.fixture
def redis_commands(redis_service: str) -> Iterator[list[bytes]]:
    """The Redis commands this process sends while the test runs (their names)."""
    sent: list[bytes] = []
    connection_class = redis.connection.AbstractConnection
    original = connection_class.send_packed_command

    def counting(self: Any, command: Any, check_health: bool = True) -> None:
        first = command[0] if isinstance(command, list) else command
        sent.append(bytes(first).split(b"\r\n")[2])
        original(self, command, check_health)

    connection_class.send_packed_command = counting  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        connection_class.send_packed_command = original  # type: ignore[method-assign]


# --- What a reveal sends --------------------------------------------------------------------


@ON_POSTGRESQL
def test_a_reveal_is_one_statement_on_each_database_and_no_redis_command(
    order: Order, agent: User, redis_commands: list[bytes]
) -> None:
    assert _reveal(order, agent) == PHONE  # the gate is computed once, then kept
    redis_commands.clear()
    with (
        CaptureQueriesContext(connections["default"]) as main,
        CaptureQueriesContext(connections["keystore"]) as keys,
    ):
        assert _reveal(order, agent) == PHONE
    assert (len(main.captured_queries), len(keys.captured_queries), redis_commands) == (1, 1, [])
    (statement,) = main.captured_queries
    assert "tenants_usersuspension" in statement["sql"]
    assert "training_gategeneration" in statement["sql"]  # the kept decision confirmed
    assert 'INSERT INTO "audits_auditevent"' in statement["sql"]


@ON_POSTGRESQL
def test_a_system_actors_reveal_checks_no_suspension_and_no_gate(
    order: Order, redis_commands: list[bytes]
) -> None:
    def relay() -> dict[str, str]:
        return reveal(order, fields=["phone"], actor=SYSTEM, purpose=Purpose.CALL_RELAY)

    assert relay() == PHONE  # the tenant key's row is read once, then kept for 30 s
    with (
        CaptureQueriesContext(connections["default"]) as main,
        CaptureQueriesContext(connections["keystore"]) as keys,
    ):
        assert relay() == PHONE
    assert (len(main.captured_queries), len(keys.captured_queries), redis_commands) == (1, 1, [])
    assert "tenants_usersuspension" not in main.captured_queries[0]["sql"]


# --- The event -----------------------------------------------------------------------------


def test_each_reveal_writes_exactly_one_chained_event_that_survives_the_callers_rollback(
    tenant: Tenant, order: Order, agent: User
) -> None:
    for _ in range(3):
        assert _reveal(order, agent) == PHONE
    with pytest.raises(CallerFailed), transaction.atomic(), tenant_scope(tenant):
        Order.objects.filter(pk=order.pk).update(district="x")
        raise CallerFailed
    assert _actions(tenant) == ["privacy.reveal"] * 3
    event = _last(tenant, "privacy.reveal")
    assert (event.actor, event.object_type, event.object_id, event.fields, event.purpose) == (
        actor_label(agent),
        "orders.order",
        str(order.pk),
        ["phone"],
        CALL,
    )
    assert event.details == {"subject": str(order.subject_id)}
    assert verify_tenant_chain(tenant)[1] is None


def test_a_reveal_inside_a_callers_transaction_is_refused_and_writes_nothing(
    tenant: Tenant, order: Order, agent: User
) -> None:
    nested = r"reveal\(\) must run outside any transaction"
    with pytest.raises(RuntimeError, match=nested), transaction.atomic():
        _reveal(order, agent)
    assert _actions(tenant) == []


# --- Refused on the very next reveal --------------------------------------------------------


def test_a_suspension_refuses_the_very_next_reveal_and_is_recorded(
    tenant: Tenant, order: Order, agent: User
) -> None:
    assert _reveal(order, agent) == PHONE
    held = suspend(
        tenant=tenant,
        user=agent,
        scope=SuspensionScope.REVEAL,
        reason="incident case 7",
        source="tests",
        actor=SYSTEM,
    )
    with pytest.raises(RevealSuspended) as refused:
        _reveal(order, agent)
    assert (
        str(refused.value) == "You are suspended from reveal of personal data until it is lifted."
    )
    assert _actions(tenant) == ["privacy.reveal", "privacy.reveal_denied"]
    assert _last(tenant, "privacy.reveal_denied").details == {"suspension": held.pk}
    assert verify_tenant_chain(tenant)[1] is None


def test_a_suspension_is_named_before_a_missing_training(tenant: Tenant, order: Order) -> None:
    untrained = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    held = suspend(
        tenant=tenant,
        user=untrained,
        scope=SuspensionScope.REVEAL,
        reason="r",
        source="tests",
        actor=SYSTEM,
    )
    with pytest.raises(RevealSuspended):
        _reveal(order, untrained)
    assert _last(tenant, "privacy.reveal_denied").details == {"suspension": held.pk}


def test_a_revoked_role_refuses_the_very_next_reveal(
    tenant: Tenant, order: Order, agent: User
) -> None:
    assert _reveal(order, agent) == PHONE
    revoke_role(user=agent, role=Role.CUSTOMER_SERVICE, actor=SYSTEM)
    with pytest.raises(RevealDenied, match="Your roles may not reveal Phone for this purpose."):
        _reveal(order, agent)
    assert _actions(tenant) == ["privacy.reveal", "privacy.reveal_denied"]


def test_a_revoked_object_permission_refuses_the_riders_very_next_reveal() -> None:
    tenant = TenantFactory()
    order, rider = packed_order(tenant), make_rider(tenant)
    assign_rider(
        order=order, rider=rider, actor=UserFactory(tenant=tenant, roles=[Role.DISPATCHER])
    )
    confirm_pickup(order=order, user=rider.user, code=order.code, seal_number="SEAL-4242")
    with tenant_scope(tenant):
        order = Order.objects.get(pk=order.pk)
    revealed = reveal(order, fields=["address"], actor=rider.user, purpose=Purpose.DELIVERY)
    assert revealed == {"address": "上海市浦东新区张江路88号7栋1201室"}
    remove_perm("orders.deliver_order", rider.user, order)
    with pytest.raises(RevealDenied, match="You are not assigned to this record."):
        reveal(order, fields=["address"], actor=rider.user, purpose=Purpose.DELIVERY)
    assert _actions(tenant) == ["privacy.reveal", "privacy.reveal_denied"]


def test_a_pass_that_lapses_refuses_the_very_next_reveal(
    tenant: Tenant, order: Order, agent: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kept open decision never outlives the first pass to expire: here the induction
    pass expires two minutes from now, well inside the five minutes a decision is kept."""
    now = timezone.now()
    with tenant_scope(tenant):
        QuizAttempt.objects.filter(user=agent, passed=True).update(
            submitted_at=add_months(now, -ALL_STAFF["renew_months"]) + timedelta(minutes=2)
        )
    assert _reveal(order, agent) == PHONE  # computed and kept
    assert _reveal(order, agent) == PHONE  # kept
    later = now + timedelta(minutes=3)
    monkeypatch.setattr(timezone, "now", lambda: later)
    with pytest.raises(RevealUntrained):
        _reveal(order, agent)
    assert _last(tenant, "privacy.reveal_denied").details == {
        "training_refused": [f"{ALL_STAFF['code']}:expired"]
    }


# --- Another tenant, and a key store that is down --------------------------------------------


def test_another_tenants_order_is_a_404_and_writes_nothing(client: Client, order: Order) -> None:
    other = TenantFactory()
    seed_training(other, SYSTEM)
    stranger = cleared_staff(other, Role.CUSTOMER_SERVICE)
    client.force_login(stranger)
    response = client.post(
        f"/api/v1/orders/{order.pk}/reveal/",
        data={"fields": ["phone"], "purpose": CALL},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 404
    with pytest.raises(Order.DoesNotExist):
        _reveal(order, stranger)
    assert (_actions(order.tenant), _actions(other)) == ([], [])


@pytest.mark.skipif(
    connections["keystore"].vendor != "postgresql", reason="a key store server to be down"
)
def test_with_the_key_store_down_the_reveal_api_answers_503_and_reveals_nothing(
    client: Client, tenant: Tenant, order: Order, agent: User
) -> None:
    client.force_login(agent)

    def post() -> Any:
        return client.post(
            f"/api/v1/orders/{order.pk}/reveal/",
            data={"fields": ["phone"], "purpose": CALL},
            content_type="application/json",
            HTTP_ACCEPT_LANGUAGE="en",
        )

    keystore = connections["keystore"]
    port = keystore.settings_dict["PORT"]
    keystore.close()
    keystore.settings_dict["PORT"] = "1"  # a closed port: the key store is unreachable
    try:
        response = post()
    finally:
        keystore.close()
        keystore.settings_dict["PORT"] = port
    assert (response.status_code, response["Content-Type"], response["Retry-After"]) == (
        503,
        "application/json",
        "10",
    )
    assert _actions(tenant) == []
    assert (post().status_code, _actions(tenant)) == (200, ["privacy.reveal"])
