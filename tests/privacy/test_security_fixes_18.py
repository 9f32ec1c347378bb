"""Security review of issue 18: suspensions refuse reveal (a user suspended from reveal, a
rider suspended from dispatch), ``copy_sealed`` is checked and recorded like a reveal, and
``correct`` checks the tenant and the rules and records with its write."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audits.models import AuditEvent
from orders.models import Order
from privacy.api import (
    Purpose,
    RevealDenied,
    copy_sealed,
    correct,
    may_reveal,
    reveal,
    reveal_many,
)
from riders.delivery import confirm_pickup
from riders.dispatch import assign_rider
from tenants.actors import SystemActor
from tenants.models import Role, SuspensionScope, Tenant, User, UserSuspension
from tenants.scoping import tenant_scope
from tenants.suspensions import lift, suspend
from tests.factories import OrderFactory, TenantFactory, UserFactory
from tests.riders.conftest import make_rider, packed_order

pytestmark = pytest.mark.django_db(databases="__all__")

SYSTEM = SystemActor("tests")
CALL = Purpose.CUSTOMER_SERVICE_CALL


def _suspend(user: User, scope: SuspensionScope, **kwargs: object) -> UserSuspension:
    return suspend(
        tenant=user.tenant,
        user=user,
        scope=scope,
        reason="incident case 7",
        source="tests",
        actor=SYSTEM,
        **kwargs,  # type: ignore[arg-type]
    )


def _events(tenant: Tenant, action: str) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


def _suspension_queries(queries: CaptureQueriesContext) -> int:
    table = UserSuspension._meta.db_table
    return sum(table in q["sql"] for q in queries.captured_queries)


@pytest.fixture
def order() -> Order:
    return OrderFactory(tenant=TenantFactory())


# --- Suspended from reveal ---------------------------------------------------------------


def test_a_user_suspended_from_reveal_is_refused_with_the_reason_and_it_is_recorded(
    order: Order,
) -> None:
    agent = UserFactory(tenant=order.tenant, roles=[Role.CUSTOMER_SERVICE])
    held = _suspend(agent, SuspensionScope.REVEAL)
    with pytest.raises(RevealDenied) as error:
        reveal(order, fields=["phone"], actor=agent, purpose=CALL)
    (event,) = _events(order.tenant, "privacy.reveal_denied")
    assert (
        str(error.value),
        may_reveal(order, fields=["phone"], actor=agent, purpose=CALL),
        event.details,
        _events(order.tenant, "privacy.reveal"),
    ) == (
        "You are suspended from reveal of personal data until it is lifted.",
        False,
        {"suspension": held.pk},
        [],
    )
    lift(tenant=order.tenant, suspension_id=held.pk, actor=SYSTEM)
    assert reveal(order, fields=["phone"], actor=agent, purpose=CALL) == {"phone": "13912345678"}


def test_the_refusal_names_the_end_of_a_suspension(order: Order) -> None:
    officer = UserFactory(tenant=order.tenant, roles=[Role.PRIVACY_OFFICER])
    _suspend(officer, SuspensionScope.REVEAL, ends_at=timezone.now() + timedelta(days=2))
    with pytest.raises(RevealDenied) as error:
        reveal(order, fields=["name"], actor=officer, purpose=Purpose.INCIDENT_INVESTIGATION)
    assert str(error.value).startswith("You are suspended from reveal of personal data until ")
    assert "lifted" not in str(error.value)


def test_a_dispatch_suspension_does_not_refuse_customer_service(order: Order) -> None:
    agent = UserFactory(tenant=order.tenant, roles=[Role.CUSTOMER_SERVICE])
    _suspend(agent, SuspensionScope.DISPATCH)
    assert reveal(order, fields=["phone"], actor=agent, purpose=CALL) == {"phone": "13912345678"}


def test_the_suspension_check_is_one_query_and_only_when_the_rules_allow(order: Order) -> None:
    agent = UserFactory(tenant=order.tenant, roles=[Role.CUSTOMER_SERVICE])
    cook = UserFactory(tenant=order.tenant, roles=[Role.KITCHEN])
    with CaptureQueriesContext(connection) as allowed:
        may_reveal(order, fields=["phone"], actor=agent, purpose=CALL)
    with CaptureQueriesContext(connection) as refused:
        may_reveal(order, fields=["phone"], actor=cook, purpose=CALL)
    assert (_suspension_queries(allowed), _suspension_queries(refused)) == (1, 0)


def test_reveal_many_checks_the_suspension_once_and_refuses_every_record() -> None:
    tenant = TenantFactory()
    orders = [OrderFactory(tenant=tenant) for _ in range(3)]
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    _suspend(agent, SuspensionScope.REVEAL)
    with CaptureQueriesContext(connection) as queries:
        results = reveal_many(orders, fields=["phone"], actor=agent, purpose=CALL)
    (event,) = _events(tenant, "privacy.reveal_batch_denied")
    assert (
        _suspension_queries(queries),
        {r.failure for r in results.values()},
        event.details["count"],
    ) == (1, {"denied"}, 3)


# --- A rider suspended from dispatch sees no customer data -------------------------------


def test_a_rider_suspended_from_dispatch_no_longer_sees_the_address() -> None:
    tenant = TenantFactory()
    order = packed_order(tenant)
    rider = make_rider(tenant)
    assign_rider(
        order=order, rider=rider, actor=UserFactory(tenant=tenant, roles=[Role.DISPATCHER])
    )
    confirm_pickup(order=order, user=rider.user, code=order.code, seal_number="SEAL-4242")
    with tenant_scope(tenant):
        order = Order.objects.get(pk=order.pk)
    delivery = Purpose.DELIVERY
    before = may_reveal(order, fields=["address"], actor=rider.user, purpose=delivery)
    _suspend(rider.user, SuspensionScope.DISPATCH)
    with pytest.raises(RevealDenied) as error:
        reveal(order, fields=["address"], actor=rider.user, purpose=delivery)
    assert (
        before,
        may_reveal(order, fields=["address"], actor=rider.user, purpose=delivery),
        str(error.value),
        len(_events(tenant, "privacy.reveal_denied")),
    ) == (True, False, "You are suspended from dispatch until it is lifted.", 1)


# --- copy_sealed ------------------------------------------------------------------------


def _target(order: Order) -> Order:
    return Order(tenant=order.tenant, subject_id=order.subject_id, remake_of=order)


def test_copy_sealed_is_for_customer_service_and_recorded_durably(order: Order) -> None:
    agent = UserFactory(tenant=order.tenant, roles=[Role.CUSTOMER_SERVICE])
    target = _target(order)
    copy_sealed(order, target, fields=Order.SEALED_FIELDS, actor=agent)
    (event,) = _events(order.tenant, "privacy.sealed_copied")
    assert (
        event.purpose,
        event.object_id,
        event.details["from"],
        sorted(event.fields),
        bytes(target.phone_ct) != bytes(order.phone_ct),
    ) == (Purpose.ORDER_REMAKE, str(target.pk), str(order.pk), sorted(Order.SEALED_FIELDS), True)


def test_copy_sealed_refuses_other_roles_system_jobs_and_suspended_users(order: Order) -> None:
    tenant = order.tenant
    cook = UserFactory(tenant=tenant, roles=[Role.KITCHEN])
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    suspended = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    _suspend(suspended, SuspensionScope.REVEAL)
    for actor in (cook, officer, SYSTEM, suspended):
        target = _target(order)
        with pytest.raises(RevealDenied):
            copy_sealed(order, target, fields=Order.SEALED_FIELDS, actor=actor)
        assert not target.phone_ct
    denied = _events(tenant, "privacy.reveal_denied")
    assert (
        [e.purpose for e in denied],
        _events(tenant, "privacy.sealed_copied"),
    ) == ([Purpose.ORDER_REMAKE] * 4, [])


def test_copy_sealed_by_another_tenants_user_is_not_found(order: Order) -> None:
    outsider = UserFactory(tenant=TenantFactory(), roles=[Role.CUSTOMER_SERVICE])
    with pytest.raises(Order.DoesNotExist):
        copy_sealed(order, _target(order), fields=Order.SEALED_FIELDS, actor=outsider)


def test_copy_sealed_refuses_to_run_inside_a_callers_transaction(order: Order) -> None:
    agent = UserFactory(tenant=order.tenant, roles=[Role.CUSTOMER_SERVICE])
    target = _target(order)
    with pytest.raises(RuntimeError, match="copy_sealed"), transaction.atomic():
        copy_sealed(order, target, fields=Order.SEALED_FIELDS, actor=agent)
    assert not target.phone_ct


def test_the_remake_purpose_is_no_reveal_purpose(order: Order) -> None:
    agent = UserFactory(tenant=order.tenant, roles=[Role.CUSTOMER_SERVICE])
    with pytest.raises(RevealDenied):
        reveal(order, fields=["items"], actor=agent, purpose=Purpose.ORDER_REMAKE)


# --- correct ----------------------------------------------------------------------------


def test_correct_checks_the_tenant_and_the_rules(order: Order) -> None:
    outsider = UserFactory(tenant=TenantFactory(), roles=[Role.CUSTOMER_SERVICE])
    cook = UserFactory(tenant=order.tenant, roles=[Role.KITCHEN])
    with pytest.raises(Order.DoesNotExist):
        correct(order, values={"note": "请敲门"}, actor=outsider, purpose=CALL)
    with pytest.raises(RevealDenied), transaction.atomic(), tenant_scope(order.tenant):
        correct(order, values={"note": "请敲门"}, actor=cook, purpose=CALL)
    assert _events(order.tenant, "privacy.corrected") == []


def test_a_correction_rolled_back_leaves_neither_change_nor_event(order: Order) -> None:
    agent = UserFactory(tenant=order.tenant, roles=[Role.CUSTOMER_SERVICE])
    before = bytes(order.note_ct)
    with pytest.raises(ZeroDivisionError), transaction.atomic(), tenant_scope(order.tenant):
        correct(order, values={"note": "请敲门"}, actor=agent, purpose=CALL)
        raise ZeroDivisionError
    with tenant_scope(order.tenant):
        after = bytes(Order.objects.get(pk=order.pk).note_ct)
    assert (after == before, _events(order.tenant, "privacy.corrected")) == (True, [])
