"""Who may reveal which field for which purpose: the whole table, plus the edges."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from audits.models import AuditEvent
from privacy.errors import RevealDenied
from privacy.models import DataSubject
from privacy.permissions import Purpose
from privacy.reveal import reveal
from tenants.actors import SystemActor
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.factories import DataSubjectFactory, OrderFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")

FIELDS = DataSubject.ENCRYPTED_FIELDS
# Written out by hand, not derived from privacy.permissions: this is the policy under test.
ALLOWED = (
    {(Role.CUSTOMER_SERVICE, field, Purpose.CUSTOMER_SERVICE_CALL) for field in FIELDS}
    | {
        (Role.PRIVACY_OFFICER, field, purpose)
        for field in FIELDS
        for purpose in (Purpose.ERASURE_REQUEST, Purpose.INCIDENT_INVESTIGATION)
    }
    # The kitchen's rule (items, note) is limited to the order's stages at its station: a
    # customer record has no stage, so the kitchen sees none of it (by status:
    # tests/orders/test_reveal_stage_matrix.py).
)
MATRIX = [
    (role, field, purpose, (role, field, purpose) in ALLOWED)
    for role in Role
    for field in FIELDS
    for purpose in Purpose
]


def _last_event(subject: DataSubject) -> tuple[str, list[str], str]:
    with tenant_scope(subject.tenant):
        event = AuditEvent.objects.order_by("-sequence").first()
    return event.action, event.fields, event.purpose


@pytest.mark.parametrize(("role", "field", "purpose", "allowed"), MATRIX)
def test_reveal_matrix(role: Role, field: str, purpose: Purpose, allowed: bool) -> None:
    subject = DataSubjectFactory(note="请放门口")
    user = UserFactory(tenant=subject.tenant, roles=[role])
    outcome = "denied"
    try:
        reveal(subject, fields=[field], actor=user, purpose=purpose)
        outcome = "revealed"
    except RevealDenied:
        pass
    assert (outcome, _last_event(subject)) == (
        "revealed" if allowed else "denied",
        ("privacy.reveal" if allowed else "privacy.reveal_denied", [field], purpose.value),
    )


def test_revealed_values_are_the_stored_ones() -> None:
    subject = DataSubjectFactory(name="王五", phone="13800001111", address="北京市朝阳区A路1号")
    agent = UserFactory(tenant=subject.tenant, roles=[Role.CUSTOMER_SERVICE])
    values = reveal(
        subject,
        fields=["name", "phone", "address"],
        actor=agent,
        purpose=Purpose.CUSTOMER_SERVICE_CALL,
    )
    assert values == {"name": "王五", "phone": "13800001111", "address": "北京市朝阳区A路1号"}


def test_reveal_event_records_actor_object_fields_purpose_and_request() -> None:
    subject = DataSubjectFactory()
    agent = UserFactory(tenant=subject.tenant, roles=[Role.CUSTOMER_SERVICE])
    reveal(subject, fields=["phone", "name"], actor=agent, purpose=Purpose.CUSTOMER_SERVICE_CALL)
    with tenant_scope(subject.tenant):
        event = AuditEvent.objects.order_by("-sequence").first()
    assert (event.actor, event.object_type, event.object_id, event.fields, event.details) == (
        f"user:{agent.pk}",
        "privacy.datasubject",
        str(subject.pk),
        ["name", "phone"],
        {"subject": str(subject.pk)},
    )


def test_user_of_another_tenant_gets_not_found() -> None:
    subject = DataSubjectFactory()
    outsider = UserFactory(roles=[Role.CUSTOMER_SERVICE])
    with pytest.raises(DataSubject.DoesNotExist):
        reveal(subject, fields=["phone"], actor=outsider, purpose=Purpose.CUSTOMER_SERVICE_CALL)


def test_deactivated_user_cannot_reveal() -> None:
    subject = DataSubjectFactory()
    agent = UserFactory(tenant=subject.tenant, roles=[Role.CUSTOMER_SERVICE], is_active=False)
    with pytest.raises(RevealDenied, match="Only an active user"):
        reveal(subject, fields=["phone"], actor=agent, purpose=Purpose.CUSTOMER_SERVICE_CALL)


def test_denial_names_the_fields_the_role_may_not_see() -> None:
    order = OrderFactory()  # received: at the kitchen's stage
    cook = UserFactory(tenant=order.tenant, roles=[Role.KITCHEN])
    with pytest.raises(
        RevealDenied, match="Your roles may not reveal Address, Phone for this purpose."
    ):
        reveal(
            order,
            fields=["phone", "address", "note"],
            actor=cook,
            purpose=Purpose.FOOD_PREPARATION,
        )


def test_system_job_may_reveal_the_phone_to_send_a_code() -> None:
    subject = DataSubjectFactory(phone="13900002222")
    values = reveal(
        subject, fields=["phone"], actor=SystemActor("sms"), purpose=Purpose.IDENTITY_VERIFICATION
    )
    assert values == {"phone": "13900002222"}


def test_system_job_may_not_reveal_the_name() -> None:
    subject = DataSubjectFactory()
    with pytest.raises(RevealDenied):
        reveal(
            subject,
            fields=["name"],
            actor=SystemActor("sms"),
            purpose=Purpose.IDENTITY_VERIFICATION,
        )


@pytest.mark.parametrize(
    ("fields", "purpose", "message"),
    [
        (["ssn"], Purpose.CUSTOMER_SERVICE_CALL, "Choose among: name, phone, address, note."),
        ([], Purpose.CUSTOMER_SERVICE_CALL, "Choose among: name, phone, address, note."),
        (["phone"], "curiosity", "Unknown purpose 'curiosity'."),
    ],
)
def test_bad_reveal_requests_are_refused_with_a_message(
    fields: list[str], purpose: str, message: str
) -> None:
    subject = DataSubjectFactory()
    agent = UserFactory(tenant=subject.tenant, roles=[Role.CUSTOMER_SERVICE])
    with pytest.raises(ValidationError) as error:
        reveal(subject, fields=fields, actor=agent, purpose=purpose)
    assert error.value.messages == [message]


def test_reveal_refuses_models_that_hold_no_sealed_data() -> None:
    agent = UserFactory(roles=[Role.CUSTOMER_SERVICE])
    with pytest.raises(TypeError, match="holds no sealed personal data"):
        reveal(agent, fields=["username"], actor=agent, purpose=Purpose.CUSTOMER_SERVICE_CALL)
