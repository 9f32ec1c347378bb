"""Containment enforced (security review of issue 18): a rider suspended from dispatch
places no relay call, and a corrected phone moves the order to that phone's customer, so
the phone search and an erasure request by the new phone find it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from audits.models import AuditEvent
from core.errors import Conflict
from incidents.anomaly_actions import correct_order_information
from incidents.models import AnomalyKind
from incidents.services import report_anomaly
from orders.models import Order
from privacy.api import Purpose, SubjectErasedError, find_subjects_by_phone, reveal, seal
from privacy.erasure_requests import record_staff_request
from privacy.keys import subject_cipher
from privacy.models import DataSubject, RequestChannel
from riders.delivery import call_customer
from riders.dispatch import assign_rider
from riders.models import Assignment
from riders.relay import relay_backend
from tenants.actors import SystemActor
from tenants.models import Role, SuspensionScope, Tenant, User
from tenants.scoping import tenant_scope
from tenants.suspensions import lift, suspend
from tests.factories import OrderFactory, TenantFactory, UserFactory
from tests.riders.conftest import make_rider, packed_order

pytestmark = pytest.mark.django_db(databases="__all__")

SYSTEM = SystemActor("tests")
OLD_PHONE = "13912345678"  # the factory's
NEW_PHONE = "13698765432"
FIELDS = ["name", "phone", "address", "note", "items"]


@pytest.fixture(autouse=True)
def console_relay(settings: Any) -> Iterator[None]:
    settings.BAOMI_CALL_RELAY_BACKEND = "riders.relay.ConsoleRelayBackend"
    relay_backend.cache_clear()
    yield
    relay_backend.cache_clear()


def _order(order: Order) -> Order:
    with tenant_scope(order.tenant):
        return Order.objects.get(pk=order.pk)


def _orders_of(tenant: Tenant, subjects: list[DataSubject]) -> set[Any]:
    with tenant_scope(tenant):
        return set(
            Order.objects.filter(subject__in=[s.pk for s in subjects]).values_list("pk", flat=True)
        )


# --- The rider's relay call -------------------------------------------------------------


def test_a_rider_suspended_from_dispatch_places_no_relay_call() -> None:
    tenant = TenantFactory()
    order = packed_order(tenant)
    rider = make_rider(tenant)
    assign_rider(
        order=order, rider=rider, actor=UserFactory(tenant=tenant, roles=[Role.DISPATCHER])
    )
    held = suspend(
        tenant=tenant,
        user=rider.user,
        scope=SuspensionScope.DISPATCH,
        reason="incident case 7",
        source="tests",
        actor=SYSTEM,
    )
    with pytest.raises(Conflict) as error:
        call_customer(order=order, user=rider.user)
    with tenant_scope(tenant):
        relay_reveals = AuditEvent.objects.filter(action="privacy.reveal").count()
    assert (error.value.message, error.value.extra, relay_reveals) == (
        "You are suspended from dispatch until it is lifted.",
        {"reason": "suspended"},
        0,
    )
    lift(tenant=tenant, suspension_id=held.pk, actor=SYSTEM)
    assert call_customer(order=order, user=rider.user).startswith("+86 950")


# --- A corrected phone moves the order to that phone's customer -------------------------


def _correct_phone(order: Order, agent: User, phone: str = NEW_PHONE) -> None:
    anomaly = report_anomaly(order=order, kind=AnomalyKind.WRONG_ADDRESS, actor=SYSTEM)
    correct_order_information(anomaly=anomaly, values={"phone": phone}, resolve=True, actor=agent)


@pytest.fixture
def agent() -> User:
    return UserFactory(tenant=TenantFactory(), roles=[Role.CUSTOMER_SERVICE])


def test_the_corrected_order_moves_to_the_new_phones_customer(agent: User) -> None:
    tenant = agent.tenant
    corrected, other = OrderFactory(tenant=tenant), OrderFactory(tenant=tenant)
    old_subject = corrected.subject_id
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    investigation = Purpose.INCIDENT_INVESTIGATION
    before = reveal(corrected, fields=FIELDS, actor=officer, purpose=investigation)
    _correct_phone(corrected, agent)
    moved = _order(corrected)
    purpose = Purpose.ERASURE_REQUEST
    by_old = find_subjects_by_phone(tenant=tenant, phone=OLD_PHONE, actor=officer, purpose=purpose)
    by_new = find_subjects_by_phone(tenant=tenant, phone=NEW_PHONE, actor=officer, purpose=purpose)
    with tenant_scope(tenant):
        (event,) = AuditEvent.objects.filter(action="privacy.corrected")
    assert (
        moved.subject_id != old_subject,
        other.subject_id == old_subject,
        reveal(moved, fields=FIELDS, actor=officer, purpose=investigation),
        [s.pk for s in by_old],
        [s.pk for s in by_new],
        _orders_of(tenant, by_old),
        _orders_of(tenant, by_new),
        event.details,
    ) == (
        True,
        True,
        {**before, "phone": NEW_PHONE},
        [old_subject],
        [moved.subject_id],
        {other.pk},
        {moved.pk},
        {"subject": str(moved.subject_id), "moved_from": str(old_subject)},
    )


def test_an_erasure_request_by_the_new_phone_erases_the_corrected_order(agent: User) -> None:
    tenant = agent.tenant
    corrected, other = OrderFactory(tenant=tenant), OrderFactory(tenant=tenant)
    _correct_phone(corrected, agent)
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    (subject,) = find_subjects_by_phone(
        tenant=tenant, phone=NEW_PHONE, actor=officer, purpose=Purpose.ERASURE_REQUEST
    )
    record_staff_request(
        tenant=tenant,
        subject_id=subject.pk,
        channel=RequestChannel.PHONE,
        evidence="verified by a code texted to the number",
        actor=officer,
    )
    with pytest.raises(SubjectErasedError):
        reveal(_order(corrected), fields=["name"], actor=officer, purpose=Purpose.ERASURE_REQUEST)
    assert reveal(
        _order(other), fields=["phone"], actor=officer, purpose=Purpose.ERASURE_REQUEST
    ) == {"phone": OLD_PHONE}


def test_a_phone_of_a_known_customer_joins_that_customer(agent: User) -> None:
    tenant = agent.tenant
    known = OrderFactory(
        tenant=tenant, customer={"name": "王伟", "phone": NEW_PHONE, "address": "北京市朝阳区"}
    )
    corrected = OrderFactory(tenant=tenant)
    _correct_phone(corrected, agent)
    with tenant_scope(tenant):
        matched = AuditEvent.objects.filter(action="privacy.subject_matched").count()
    assert (_order(corrected).subject_id, matched >= 1) == (known.subject_id, True)


def test_the_rows_sealed_under_the_order_follow_it(agent: User) -> None:
    tenant = agent.tenant
    order = packed_order(tenant)
    rider = make_rider(tenant)
    assign_rider(
        order=order, rider=rider, actor=UserFactory(tenant=tenant, roles=[Role.DISPATCHER])
    )
    with tenant_scope(tenant):
        assignment = Assignment.objects.get(order=order)
        assignment.held_note_ct = seal(assignment, "held_note", "放在前台")
        assignment.save(update_fields=["held_note_ct"])
    _correct_phone(order, agent)
    moved = _order(order)
    with tenant_scope(tenant):
        blob = Assignment.objects.get(pk=assignment.pk).held_note_ct
    cipher = subject_cipher(tenant, moved.subject_id)
    assert cipher.open(Assignment._meta.db_table, "held_note", assignment.pk, blob) == "放在前台"


def test_the_same_phone_again_moves_nothing(agent: User) -> None:
    order = OrderFactory(tenant=agent.tenant)
    _correct_phone(order, agent, phone="139 1234 5678")
    with tenant_scope(agent.tenant):
        (event,) = AuditEvent.objects.filter(action="privacy.corrected")
    assert (_order(order).subject_id, event.details) == (
        order.subject_id,
        {"subject": str(order.subject_id)},
    )
