"""Customer service's follow-up on an order anomaly (issue 18, point 4): the relay call and
the correction through the vault for wrong delivery information, and the re-make of lost
or damaged food as a new linked order."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from audits.models import AuditEvent
from core.errors import Conflict
from incidents import anomaly_actions
from incidents.anomaly_actions import (
    call_customer_about,
    correct_order_information,
    remake_for_anomaly,
)
from incidents.models import AnomalyKind, OrderAnomaly
from incidents.services import report_anomaly
from orders.lifecycle import transition_order
from orders.models import Order, OrderTransition, Status
from privacy.api import Purpose, reveal
from privacy.erasure import erase_subject
from privacy.models import ErasureReason
from tenants.actors import SystemActor
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")

NEW_ADDRESS = "北京市海淀区中关村大街27号5栋603室"
NEW_PHONE = "13698765432"
OLD_ADDRESS = "上海市浦东新区张江路88号7栋1201室"


def _anomaly(kind: AnomalyKind) -> OrderAnomaly:
    order = OrderFactory(tenant=TenantFactory())
    return report_anomaly(order=order, kind=kind, actor=SystemActor("tests"))


@pytest.fixture
def wrong() -> OrderAnomaly:
    return _anomaly(AnomalyKind.WRONG_ADDRESS)


@pytest.fixture
def lost() -> OrderAnomaly:
    return _anomaly(AnomalyKind.LOST)


def _agent(tenant: Tenant, role: Role = Role.CUSTOMER_SERVICE) -> User:
    return UserFactory(tenant=tenant, roles=[role])


def _reload(anomaly: OrderAnomaly) -> OrderAnomaly:
    with tenant_scope(anomaly.tenant):
        return OrderAnomaly.objects.select_related("order").get(pk=anomaly.pk)


def _order(order: Order) -> Order:
    with tenant_scope(order.tenant):
        return Order.objects.get(pk=order.pk)


def _events(tenant: Tenant, action: str) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(action=action))


def _set_status(order: Order, status: Status) -> None:
    with tenant_scope(order.tenant):
        Order.objects.filter(pk=order.pk).update(status=status)


def _erase(order: Order) -> None:
    erase_subject(
        tenant=order.tenant,
        subject_id=order.subject_id,
        reason=ErasureReason.ADMINISTRATOR,
        actor=SystemActor("tests"),
    )


def _row_bytes(order: Order) -> bytes:
    """Every column of the order's row, as bytes."""
    columns = [f.attname for f in Order._meta.concrete_fields]
    with tenant_scope(order.tenant):
        (row,) = Order.objects.filter(pk=order.pk).values_list(*columns)
    out = b""
    for value in row:
        if isinstance(value, memoryview | bytes):
            out += bytes(value)
        else:
            out += str(value).encode()
    return out


# --- Correcting the order through the vault --------------------------------------------


def test_correction_round_trip(wrong: OrderAnomaly) -> None:
    agent = _agent(wrong.tenant)
    fields = correct_order_information(
        anomaly=wrong,
        values={"address": NEW_ADDRESS, "phone": "136 9876 5432", "name": "", "note": ""},
        resolve=True,
        actor=agent,
    )
    order = _order(wrong.order)
    revealed = reveal(
        order,
        fields=["address", "phone", "name"],
        actor=agent,
        purpose=Purpose.CUSTOMER_SERVICE_CALL,
    )
    resolved = _reload(wrong)
    (privacy_event,) = _events(wrong.tenant, "privacy.corrected")
    (incident_event,) = _events(wrong.tenant, "incidents.anomaly_information_corrected")
    with tenant_scope(wrong.tenant):
        everything = json.dumps(
            list(AuditEvent.objects.values("fields", "details", "object_id")), ensure_ascii=False
        )
    row = _row_bytes(order)
    assert (
        fields,
        revealed,
        order.address_masked != wrong.order.address_masked,
        order.phone_masked,
        (resolved.outcome, resolved.note, resolved.resolved_at is not None),
        (privacy_event.fields, privacy_event.purpose, sorted(privacy_event.details)),
        (incident_event.fields, incident_event.details),
        NEW_ADDRESS in everything or NEW_PHONE in everything,
        NEW_ADDRESS.encode() in row or NEW_PHONE.encode() in row,
        # The mask keeps the street (by design); the part it hides is nowhere in the row.
        "27号5栋603室".encode() in row or b"98765" in row,
    ) == (
        ["address", "phone"],
        {"address": NEW_ADDRESS, "phone": NEW_PHONE, "name": "欧阳娜娜"},
        True,
        "136****5432",
        ("information_corrected", "", True),
        # A new phone moved the order to that phone's (new) customer.
        (["address", "phone"], "customer_service_call", ["moved_from", "subject"]),
        (["address", "phone"], {"anomaly": wrong.pk}),
        False,
        False,
        False,
    )
    assert OLD_ADDRESS not in revealed.values()


def test_correction_may_leave_the_anomaly_open(wrong: OrderAnomaly) -> None:
    correct_order_information(
        anomaly=wrong, values={"note": "请敲门"}, resolve=False, actor=_agent(wrong.tenant)
    )
    assert _reload(wrong).is_open


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.CUSTOMER_SERVICE, True),
        (Role.TENANT_ADMIN, False),
        (Role.DISPATCHER, False),
        (Role.SUPERVISOR, False),
        (Role.PRIVACY_OFFICER, False),
        (Role.KITCHEN, False),
        (Role.PACKER, False),
        (Role.RIDER, False),
    ],
)
def test_who_may_correct_and_remake(role: Role, allowed: bool) -> None:
    wrong, lost = _anomaly(AnomalyKind.WRONG_ADDRESS), _anomaly(AnomalyKind.DAMAGED)
    outcomes = []
    for act in (
        lambda: correct_order_information(
            anomaly=wrong,
            values={"address": NEW_ADDRESS},
            resolve=True,
            actor=_agent(wrong.tenant, role),
        ),
        lambda: remake_for_anomaly(anomaly=lost, actor=_agent(lost.tenant, role)),
    ):
        try:
            act()
            outcomes.append(True)
        except PermissionDenied:
            outcomes.append(False)
    assert (outcomes, _reload(wrong).is_open, _reload(lost).is_open) == (
        [allowed, allowed],
        not allowed,
        not allowed,
    )


@pytest.mark.parametrize(
    ("values", "errors"),
    [
        ({}, {"__all__": ["Give at least one corrected field."]}),
        ({"address": "   "}, {"__all__": ["Give at least one corrected field."]}),
        ({"phone": "12345"}, "phone"),
        ({"address": "x" * 301}, {"address": ["At most 300 characters."]}),
        ({"name": "bell\x07"}, {"name": ["Must not contain control characters."]}),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(
    wrong: OrderAnomaly, values: dict[str, Any], errors: Any
) -> None:
    before = _row_bytes(wrong.order)
    with pytest.raises(ValidationError) as error:
        correct_order_information(
            anomaly=wrong, values=values, resolve=True, actor=_agent(wrong.tenant)
        )
    if isinstance(errors, str):
        assert list(error.value.message_dict) == [errors]
        assert "12345" not in str(error.value)
    else:
        assert error.value.message_dict == errors
    assert (_row_bytes(wrong.order), _reload(wrong).is_open) == (before, True)


@pytest.mark.parametrize(
    ("status", "label"), [(Status.DELIVERED, "Delivered"), (Status.CANCELLED, "Cancelled")]
)
def test_a_finished_order_is_not_corrected(wrong: OrderAnomaly, status: Status, label: str) -> None:
    _set_status(wrong.order, status)
    with pytest.raises(Conflict) as error:
        correct_order_information(
            anomaly=wrong, values={"address": NEW_ADDRESS}, resolve=True, actor=_agent(wrong.tenant)
        )
    assert (error.value.message, _reload(wrong).is_open) == (
        f"The order is already “{label}”.",
        True,
    )


def test_an_erased_customers_order_is_not_corrected(wrong: OrderAnomaly) -> None:
    _erase(wrong.order)
    with pytest.raises(Conflict) as error:
        correct_order_information(
            anomaly=wrong, values={"address": NEW_ADDRESS}, resolve=True, actor=_agent(wrong.tenant)
        )
    assert error.value.message == "The customer's data was erased."


def test_only_wrong_information_is_corrected_and_only_once(lost: OrderAnomaly) -> None:
    with pytest.raises(Conflict):
        correct_order_information(
            anomaly=lost, values={"address": NEW_ADDRESS}, resolve=True, actor=_agent(lost.tenant)
        )
    wrong = report_anomaly(
        order=lost.order, kind=AnomalyKind.WRONG_ADDRESS, actor=SystemActor("tests")
    )
    agent = _agent(lost.tenant)
    correct_order_information(
        anomaly=wrong, values={"address": NEW_ADDRESS}, resolve=True, actor=agent
    )
    with pytest.raises(Conflict):
        correct_order_information(
            anomaly=wrong, values={"address": OLD_ADDRESS}, resolve=True, actor=agent
        )


# --- The relay call ----------------------------------------------------------------------


def test_riders_register_the_relay_caller() -> None:
    from riders.delivery import call_customer_for_service

    assert call_customer_for_service in anomaly_actions._callers


def test_the_relay_call_goes_through_the_registered_caller(
    wrong: OrderAnomaly, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []

    def caller(*, order: Order, actor: Any) -> str:
        calls.append((order.pk, actor.pk))
        return "+86 950 0000 0001"

    monkeypatch.setattr(anomaly_actions, "_callers", [caller])
    agent = _agent(wrong.tenant)
    number = call_customer_about(anomaly=wrong, actor=agent)
    (event,) = _events(wrong.tenant, "incidents.anomaly_customer_called")
    assert (number, calls, event.details) == (
        "+86 950 0000 0001",
        [(wrong.order.pk, agent.pk)],
        {"anomaly": wrong.pk},
    )


def test_the_relay_needs_a_rider_holding_the_order(wrong: OrderAnomaly) -> None:
    with pytest.raises(Conflict) as error:
        call_customer_about(anomaly=wrong, actor=_agent(wrong.tenant))
    assert "No rider holds this order" in error.value.message


def test_the_relay_call_is_refused_to_a_dispatcher(wrong: OrderAnomaly) -> None:
    with pytest.raises(PermissionDenied):
        call_customer_about(anomaly=wrong, actor=_agent(wrong.tenant, Role.DISPATCHER))


# --- Re-making lost or damaged food ------------------------------------------------------


def test_remake_creates_one_linked_order_with_the_same_items_and_customer(
    lost: OrderAnomaly,
) -> None:
    agent = _agent(lost.tenant)
    new = remake_for_anomaly(anomaly=lost, actor=agent)
    original = _order(lost.order)
    remade = _order(new.order)
    fields = ["name", "phone", "address", "note", "items"]
    purpose = Purpose.INCIDENT_INVESTIGATION
    officer = _agent(lost.tenant, Role.PRIVACY_OFFICER)
    with tenant_scope(lost.tenant):
        remakes = list(Order.objects.filter(remake_of=original))
        first = OrderTransition.objects.get(order=remade)
    resolved = _reload(lost)
    (event,) = _events(lost.tenant, "order.remade")
    assert (
        [o.pk for o in remakes],
        remade.remake_of_id,
        remade.subject_id,
        remade.notice_record_id,
        remade.status,
        remade.code != original.code,
        remade.item_count,
        (remade.recipient_masked, remade.address_masked),
        reveal(remade, fields=fields, actor=officer, purpose=purpose),
        (first.from_status, first.to_status),
        (resolved.outcome, resolved.resolved_by),
        event.details["remake_of"],
        len(new.pin),
    ) == (
        [remade.pk],
        original.pk,
        original.subject_id,
        original.notice_record_id,
        "received",
        True,
        3,
        (original.recipient_masked, original.address_masked),
        reveal(original, fields=fields, actor=officer, purpose=purpose),
        ("", "received"),
        ("remade", f"user:{agent.pk}"),
        str(original.pk),
        6,
    )


def test_a_second_remake_is_a_conflict_naming_the_new_order(lost: OrderAnomaly) -> None:
    agent = _agent(lost.tenant)
    new = remake_for_anomaly(anomaly=lost, actor=agent)
    damaged = report_anomaly(order=lost.order, kind=AnomalyKind.DAMAGED, actor=agent)
    for anomaly in (lost, damaged):
        with pytest.raises(Conflict) as error:
            remake_for_anomaly(anomaly=anomaly, actor=agent)
        assert error.value.message == f"This order was already re-made as order {new.order.code}."
    with tenant_scope(lost.tenant):
        assert Order.objects.filter(remake_of=lost.order).count() == 1


def test_an_erased_customers_order_is_not_remade(lost: OrderAnomaly) -> None:
    _erase(lost.order)
    with pytest.raises(Conflict) as error:
        remake_for_anomaly(anomaly=lost, actor=_agent(lost.tenant))
    with tenant_scope(lost.tenant):
        count = Order.objects.filter(remake_of=lost.order).count()
    assert (error.value.message, count, _reload(lost).is_open) == (
        "The customer's data was erased: this order cannot be re-made.",
        0,
        True,
    )


def test_only_lost_or_damaged_food_is_remade(wrong: OrderAnomaly) -> None:
    with pytest.raises(Conflict):
        remake_for_anomaly(anomaly=wrong, actor=_agent(wrong.tenant))


def test_the_kitchen_sees_the_new_order(client: Client, lost: OrderAnomaly) -> None:
    cook = _agent(lost.tenant, Role.KITCHEN)
    transition_order(order=lost.order, to=Status.PREPARING, actor=cook)
    new = remake_for_anomaly(anomaly=lost, actor=_agent(lost.tenant))
    client.force_login(cook)
    page = client.get(reverse("orders:kitchen"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert (new.order.code in page, "宫保鸡丁" in page) == (True, True)


# --- The pages ---------------------------------------------------------------------------


def _page(client: Client, anomaly: OrderAnomaly) -> str:
    url = reverse("admin:incidents_orderanomaly_change", args=[anomaly.pk])
    return client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()


def _post(client: Client, anomaly: OrderAnomaly, action: str, **data: str) -> Any:
    url = reverse(f"admin:incidents_orderanomaly_{action}", args=[anomaly.pk])
    return client.post(url, data, HTTP_ACCEPT_LANGUAGE="en")


def test_the_correction_on_the_page(client: Client, wrong: OrderAnomaly) -> None:
    client.force_login(_agent(wrong.tenant))
    before = _page(client, wrong)
    response = _post(client, wrong, "correct", address=NEW_ADDRESS, resolve="on")
    after = _page(client, wrong)
    assert (
        'id="correct-form"' in before,
        'id="call-customer-form"' in before,
        response.status_code,
        NEW_ADDRESS in response.url,
        "The order is corrected: Delivery address." in after,
        NEW_ADDRESS in after,
        'id="correct-form"' in after,
        _reload(wrong).outcome,
    ) == (True, True, 302, False, True, False, False, "information_corrected")


def test_a_bad_correction_on_the_page_is_a_message(client: Client, wrong: OrderAnomaly) -> None:
    client.force_login(_agent(wrong.tenant))
    _post(client, wrong, "correct", phone="12345")
    page = _page(client, wrong)
    assert ("Phone:" in page, "12345" in page, _reload(wrong).is_open) == (True, False, True)


def test_a_delivered_order_on_the_page_is_a_message(client: Client, wrong: OrderAnomaly) -> None:
    _set_status(wrong.order, Status.DELIVERED)
    client.force_login(_agent(wrong.tenant))
    _post(client, wrong, "correct", address=NEW_ADDRESS)
    assert "The order is already “Delivered”." in _page(client, wrong)


def test_the_relay_call_on_the_page(
    client: Client, wrong: OrderAnomaly, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(anomaly_actions, "_callers", [lambda **_: "+86 950 1111 2222"])
    client.force_login(_agent(wrong.tenant))
    _post(client, wrong, "call_customer")
    assert "Dial +86 950 1111 2222" in _page(client, wrong)


def test_the_remake_on_the_page_links_both_ways(client: Client, lost: OrderAnomaly) -> None:
    client.force_login(_agent(lost.tenant))
    before = _page(client, lost)
    response = _post(client, lost, "remake")
    with tenant_scope(lost.tenant):
        remade = Order.objects.get(remake_of=lost.order)
    taken = client.get(response.url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    again = _post(client, lost, "remake")
    after = _page(client, lost)
    new_page = client.get(
        reverse("admin:orders_order_change", args=[remade.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    old_page = client.get(
        reverse("admin:orders_order_change", args=[lost.order.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert (
        'id="remake-form"' in before,
        response.url,
        'id="delivery-pin"' in taken,
        again.status_code,
        'id="remake-form"' in after,
        remade.code in after,
        f'id="remake-of">{lost.order.code}<' in new_page,
        f'id="remade-as">{remade.code}<' in old_page,
    ) == (
        True,
        reverse("admin:orders_order_taken", args=[remade.pk]),
        True,
        302,
        False,
        True,
        True,
        True,
    )


def test_a_supervisor_sees_no_actions_and_is_refused(client: Client, lost: OrderAnomaly) -> None:
    client.force_login(_agent(lost.tenant, Role.SUPERVISOR))
    page = _page(client, lost)
    _post(client, lost, "remake")
    after = _page(client, lost)
    assert (
        'id="remake-form"' in page,
        "Only customer service follows up this anomaly." in after,
        _reload(lost).is_open,
    ) == (False, True, True)


@pytest.mark.parametrize("action", ["correct", "remake", "call_customer"])
def test_another_tenants_anomaly_is_a_404(client: Client, lost: OrderAnomaly, action: str) -> None:
    client.force_login(_agent(TenantFactory()))
    assert _post(client, lost, action, address=NEW_ADDRESS).status_code == 404


def test_an_unreachable_customer_gets_the_call_but_no_correction(client: Client) -> None:
    unreachable = _anomaly(AnomalyKind.CUSTOMER_UNREACHABLE)
    client.force_login(_agent(unreachable.tenant))
    page = _page(client, unreachable)
    assert (
        'id="call-customer-form"' in page,
        'id="correct-form"' in page,
        'id="remake-form"' in page,
    ) == (True, False, False)
