"""Violations and sanctions (issue 20, point 4; §6.3.1–6.3.2): recording with evidence,
each sanction's effect (suspensions enforced by the reveal and dispatch gates, dismissal),
the person's answer, closing and withdrawal, the repeat count, who may do what."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.utils import timezone

from audits.models import (
    AuditEvent,
    Sanction,
    Violation,
    ViolationAnswer,
    ViolationEvidence,
    ViolationState,
)
from audits.services import record_event
from audits.violations.selectors import ListFilters, violations_for, with_repeat_count
from audits.violations.services import (
    Compensation,
    Decision,
    Referral,
    add_evidence,
    answer_violation,
    close_violation,
    decide_sanction,
    withdraw_violation,
)
from core.errors import Conflict
from incidents.cases import open_case
from incidents.models import IncidentCase
from orders.models import Order
from privacy.api import Purpose, RevealDenied, reveal
from tenants.actors import SystemActor
from tenants.models import Notification, Role, SuspensionScope, Tenant, User, UserSuspension
from tenants.scoping import tenant_scope
from tenants.suspensions import suspend
from tests.factories import (
    PASSWORD,
    OrderFactory,
    TenantFactory,
    UserFactory,
    ViolationFactory,
)
from tests.riders.conftest import make_rider, packed_order

pytestmark = pytest.mark.django_db(databases="__all__")

CALL = Purpose.CUSTOMER_SERVICE_CALL


@pytest.fixture
def tenant() -> Tenant:
    return TenantFactory()


@pytest.fixture
def supervisor(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.SUPERVISOR], username="sup-wang")


@pytest.fixture
def admin_user(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.TENANT_ADMIN], username="admin-zhao")


@pytest.fixture
def agent(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE], username="cs-li")


def _violation(tenant: Tenant, person: User, recorder: User, **kwargs: Any) -> Violation:
    return ViolationFactory(tenant=tenant, person=person, recorder=recorder, **kwargs)


def _events(tenant: Tenant, action: str) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


def _event_of(tenant: Tenant) -> AuditEvent:
    with tenant_scope(tenant):
        return record_event(tenant=tenant, actor=SystemActor("tests"), action="tenant.created")


def _fresh(violation: Violation) -> Violation:
    with tenant_scope(violation.tenant):
        return Violation.objects.select_related("person").get(pk=violation.pk)


def _sanctions(tenant: Tenant) -> list[Sanction]:
    with tenant_scope(tenant):
        return list(Sanction.objects.order_by("pk"))


def _case(tenant: Tenant, actor: User) -> IncidentCase:
    return open_case(
        tenant=tenant,
        title="Labels shared",
        severity="general",
        severity_reason="A few labels",
        kind="insider_access",
        data_categories=["address"],
        affected_customers=2,
        discovered_at=timezone.now() - timedelta(hours=2),
        discovered_by="Supervisor",
        is_drill=False,
        actor=actor,
    )


def _until(days: int) -> date:
    return timezone.localdate() + timedelta(days=days)


# --- recording and evidence --------------------------------------------------------------


def test_recording_a_violation_audits_it_and_tells_the_person_with_a_link_to_their_page(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    violation = _violation(tenant, agent, supervisor)
    (event,) = _events(tenant, "violations.recorded")
    with tenant_scope(tenant):
        (note,) = Notification.objects.filter(user=agent)
    assert (violation.state, event.actor, event.details, note.kind, note.params, note.link) == (
        "recorded",
        f"user:{supervisor.pk}",
        {
            "violation": violation.pk,
            "person": f"user:{agent.pk}",
            "clause": "2.3.1",
            "severity": "serious",
        },
        "violations.recorded",
        {"number": violation.number, "clause": "2.3.1"},
        f"/admin/audits/violation/mine/{violation.pk}/",
    )


def test_an_audit_event_of_the_tenant_is_linked_as_evidence_with_its_label(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    event = _event_of(tenant)
    violation = _violation(tenant, agent, supervisor, evidence=[("audit_event", str(event.pk))])
    with tenant_scope(tenant):
        (row,) = ViolationEvidence.objects.filter(violation=violation)
    (audited,) = _events(tenant, "violations.evidence_added")
    assert (row.kind, row.object_id, row.label.startswith(f"Audit event #{event.pk}: ")) == (
        "audit_event",
        str(event.pk),
        True,
    )
    assert audited.details == {
        "violation": violation.pk,
        "kind": "audit_event",
        "object": str(event.pk),
    }


def test_an_audit_event_of_another_tenant_is_refused_naming_the_field_and_nothing_is_written(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    foreign = _event_of(TenantFactory())
    with pytest.raises(ValidationError) as error:
        _violation(tenant, agent, supervisor, evidence=[("audit_event", str(foreign.pk))])
    with tenant_scope(tenant):
        assert (error.value.message_dict, Violation.objects.count()) == (
            {"evidence": [f"Audit event {foreign.pk} not found in your tenant."]},
            0,
        )


def test_an_unknown_evidence_kind_is_refused_naming_the_kind(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    violation = _violation(tenant, agent, supervisor)
    with pytest.raises(ValidationError) as error:
        add_evidence(violation=violation, kind="photo", object_id="1", actor=supervisor)
    assert error.value.message_dict == {"kind": ["Choose a kind of evidence."]}


def test_an_incident_case_of_the_tenant_is_linked_by_its_code(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    case = _case(tenant, officer)
    violation = _violation(tenant, agent, supervisor)
    row = add_evidence(
        violation=violation, kind="incident_case", object_id=case.code, actor=supervisor
    )
    assert (row.kind, row.object_id, row.label) == (
        "incident_case",
        case.code,
        f"Incident case {case.code} (General)",
    )


def test_an_incident_case_of_another_tenant_is_refused_naming_the_field(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    other = TenantFactory()
    case = _case(other, UserFactory(tenant=other, roles=[Role.PRIVACY_OFFICER]))
    violation = _violation(tenant, agent, supervisor)
    with pytest.raises(ValidationError) as error:
        add_evidence(
            violation=violation, kind="incident_case", object_id=case.code, actor=supervisor
        )
    assert error.value.message_dict == {
        "object_id": [f"Incident case {case.code} not found in your tenant."]
    }


def test_the_same_evidence_linked_twice_is_a_conflict(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    event = _event_of(tenant)
    violation = _violation(tenant, agent, supervisor, evidence=[("audit_event", str(event.pk))])
    with pytest.raises(Conflict) as error:
        add_evidence(
            violation=violation, kind="audit_event", object_id=str(event.pk), actor=supervisor
        )
    assert str(error.value) == "This evidence is already linked to the violation."


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("clause", "9.9.9", "Choose one of the options."),
        ("severity", "catastrophic", "Choose one of the options."),
        ("description", "  ", "This field is required."),
        ("description", "a\x00b", "Must not contain control characters."),
        ("description", "长" * 2001, "At most 2000 characters."),
        ("occurred_on", "yesterday", "Give a date."),
    ],
)
def test_bad_input_when_recording_names_the_field(
    tenant: Tenant, supervisor: User, agent: User, field: str, value: str, message: str
) -> None:
    with pytest.raises(ValidationError) as error:
        _violation(tenant, agent, supervisor, **{field: value})
    assert error.value.message_dict == {field: [message]}


def test_emoji_mixed_scripts_and_line_breaks_are_kept_in_the_description(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    text = "查看了非本人队列的订单 orders 🚴\n第二行 line two"
    assert _violation(tenant, agent, supervisor, description=text).description == text


def test_a_person_of_another_tenant_is_refused_naming_the_field(
    tenant: Tenant, supervisor: User
) -> None:
    stranger = UserFactory(tenant=TenantFactory(), roles=[Role.CUSTOMER_SERVICE])
    with pytest.raises(ValidationError) as error:
        _violation(tenant, stranger, supervisor)
    assert error.value.message_dict == {"person": ["Choose a person of your tenant."]}


def test_an_occurrence_in_the_future_is_refused(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    with pytest.raises(ValidationError) as error:
        _violation(tenant, agent, supervisor, occurred_on=_until(3))
    assert error.value.message_dict == {"occurred_on": ["Must not be in the future."]}


# --- who may -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.SUPERVISOR, True),
        (Role.PRIVACY_OFFICER, True),
        (Role.TENANT_ADMIN, True),
        (Role.CUSTOMER_SERVICE, False),
        (Role.DISPATCHER, False),
        (Role.KITCHEN, False),
        (Role.PACKER, False),
        (Role.RIDER, False),
    ],
)
def test_only_supervisors_record_violations(
    tenant: Tenant, agent: User, role: Role, allowed: bool
) -> None:
    actor = UserFactory(tenant=tenant, roles=[role])
    if allowed:
        assert _violation(tenant, agent, actor).state == "recorded"
    else:
        with pytest.raises(PermissionDenied):
            _violation(tenant, agent, actor)


def test_a_supervisor_of_another_tenant_cannot_record(tenant: Tenant, agent: User) -> None:
    outsider = UserFactory(tenant=TenantFactory(), roles=[Role.SUPERVISOR])
    with pytest.raises(PermissionDenied):
        _violation(tenant, agent, outsider)


def test_nobody_decides_about_themselves(tenant: Tenant, supervisor: User) -> None:
    other = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    violation = _violation(tenant, supervisor, other)
    with pytest.raises(Conflict) as error:
        decide_sanction(violation=violation, decision=Decision(warning=True), actor=supervisor)
    assert str(error.value) == "Nobody records or decides a violation about themselves."


# --- sanctions ---------------------------------------------------------------------------


def test_a_warning_decides_the_violation_tells_the_person_and_is_audited(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    violation = _violation(tenant, agent, supervisor)
    decide_sanction(violation=violation, decision=Decision(warning=True), actor=supervisor)
    (event,) = _events(tenant, "violations.sanction_decided")
    with tenant_scope(tenant):
        kinds = sorted(Notification.objects.filter(user=agent).values_list("kind", flat=True))
    assert (_fresh(violation).state, [s.kind for s in _sanctions(tenant)], kinds) == (
        "decided",
        ["warning"],
        ["violations.decided", "violations.recorded"],
    )
    assert event.details == {
        "violation": violation.pk,
        "person": f"user:{agent.pk}",
        "sanctions": ["warning"],
        "fine": None,
        "suspensions": [],
        "compensation": None,
        "case": None,
    }


def test_a_fine_is_kept_as_an_exact_amount(tenant: Tenant, supervisor: User, agent: User) -> None:
    violation = _violation(tenant, agent, supervisor)
    decide_sanction(violation=violation, decision=Decision(fine="200.50"), actor=supervisor)
    (sanction,) = _sanctions(tenant)
    assert (sanction.kind, sanction.amount) == ("fine", Decimal("200.50"))


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0", "Must be more than 0."),
        ("-10", "Must be more than 0."),
        ("abc", "Give an amount in CNY."),
        ("NaN", "Give an amount in CNY."),
        ("1.234", "At most two decimal places."),
        ("2000000", "At most 1,000,000 CNY."),
    ],
)
def test_a_bad_fine_is_refused_naming_the_field_and_nothing_is_written(
    tenant: Tenant, supervisor: User, agent: User, amount: str, message: str
) -> None:
    violation = _violation(tenant, agent, supervisor)
    with pytest.raises(ValidationError) as error:
        decide_sanction(violation=violation, decision=Decision(fine=amount), actor=supervisor)
    assert (error.value.message_dict, _sanctions(tenant), _fresh(violation).state) == (
        {"fine": [message]},
        [],
        "recorded",
    )


def test_a_decision_without_any_sanction_is_refused(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    violation = _violation(tenant, agent, supervisor)
    with pytest.raises(ValidationError) as error:
        decide_sanction(violation=violation, decision=Decision(), actor=supervisor)
    assert error.value.message_dict == {"sanctions": ["Choose at least one sanction."]}


def test_a_suspension_from_reveal_is_enforced_by_the_reveal_refusal(supervisor: User) -> None:
    tenant = supervisor.tenant
    order: Order = OrderFactory(tenant=tenant)
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    violation = _violation(tenant, agent, supervisor)
    decide_sanction(
        violation=violation, decision=Decision(suspend_reveal_until=_until(7)), actor=supervisor
    )
    with pytest.raises(RevealDenied) as error:
        reveal(order, fields=["phone"], actor=agent, purpose=CALL)
    (sanction,) = _sanctions(tenant)
    with tenant_scope(tenant):
        held = UserSuspension.objects.get()
    assert str(error.value).startswith("You are suspended from reveal of personal data until ")
    assert (sanction.suspension_id, sanction.ends_on, held.source, held.scope) == (
        held.pk,
        _until(7),
        f"violation:{violation.pk}",
        "reveal",
    )


def _assign(tenant: Tenant, rider: Any) -> Any:
    client = Client()
    client.force_login(UserFactory(tenant=tenant, roles=[Role.DISPATCHER]))
    order = packed_order(tenant)
    return client.post(
        f"/api/v1/orders/{order.pk}/assign/",
        data={"rider": rider.pk},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )


def test_a_suspension_from_dispatch_is_enforced_by_the_dispatch_refusal(
    tenant: Tenant, supervisor: User
) -> None:
    rider = make_rider(tenant)
    violation = _violation(tenant, rider.user, supervisor, clause="4.3.2")
    decide_sanction(
        violation=violation, decision=Decision(suspend_dispatch_until=_until(3)), actor=supervisor
    )
    refused = _assign(tenant, rider)
    assert refused.status_code == 409
    (missing,) = refused.json()["missing"]
    assert missing.startswith("the rider is suspended from dispatch until ")


def test_a_suspension_from_dispatch_is_only_for_riders(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    violation = _violation(tenant, agent, supervisor)
    with pytest.raises(ValidationError) as error:
        decide_sanction(
            violation=violation,
            decision=Decision(suspend_dispatch_until=_until(3)),
            actor=supervisor,
        )
    assert error.value.message_dict == {
        "suspend_dispatch_until": ["Only a rider can be suspended from dispatch."]
    }


def test_a_suspension_ending_in_the_past_is_refused(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    violation = _violation(tenant, agent, supervisor)
    with pytest.raises(ValidationError) as error:
        decide_sanction(
            violation=violation,
            decision=Decision(suspend_reveal_until=_until(-1)),
            actor=supervisor,
        )
    assert error.value.message_dict == {"suspend_reveal_until": ["Must be today or later."]}


def test_a_person_already_suspended_for_longer_is_a_conflict_and_nothing_is_decided(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    suspend(
        tenant=tenant,
        user=agent,
        scope=SuspensionScope.REVEAL,
        reason="containment",
        source="INC-1",
        actor=supervisor,
    )
    violation = _violation(tenant, agent, supervisor)
    with pytest.raises(Conflict) as error:
        decide_sanction(
            violation=violation,
            decision=Decision(warning=True, suspend_reveal_until=_until(3)),
            actor=supervisor,
        )
    assert (str(error.value), _sanctions(tenant), _fresh(violation).state) == (
        "cs-li is already suspended from reveal of personal data.",
        [],
        "recorded",
    )


def test_dismissal_deactivates_the_person_and_ends_their_sessions(
    tenant: Tenant, admin_user: User, agent: User
) -> None:
    client = Client()
    assert client.login(username=agent.username, password=PASSWORD)
    violation = _violation(tenant, agent, admin_user, clause="2.3.2", severity="grave")
    decide_sanction(violation=violation, decision=Decision(dismissal=True), actor=admin_user)
    agent.refresh_from_db()
    (ended,) = _events(tenant, "user.sessions_ended")
    assert (
        agent.is_active,
        Client().login(username=agent.username, password=PASSWORD),
        client.get("/admin/").status_code,
        len(_events(tenant, "user.deactivated")),
        ended.details,
    ) == (False, False, 302, 1, {"sessions": 1})


def test_only_a_tenant_administrator_decides_a_dismissal(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    violation = _violation(tenant, agent, supervisor)
    with pytest.raises(PermissionDenied) as error:
        decide_sanction(violation=violation, decision=Decision(dismissal=True), actor=supervisor)
    agent.refresh_from_db()
    assert (str(error.value), agent.is_active, _sanctions(tenant)) == (
        "Only a tenant administrator may decide a dismissal.",
        True,
        [],
    )


def test_a_referral_to_the_authorities_keeps_the_authority_reference_and_date(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    violation = _violation(tenant, agent, supervisor, clause="2.3.2", severity="grave")
    referred = timezone.localdate() - timedelta(days=1)
    decide_sanction(
        violation=violation,
        decision=Decision(
            warning=True,
            referral=Referral(
                authority="浦东公安分局", reference="PD-2026-118", referred_on=referred
            ),
        ),
        actor=supervisor,
    )
    referral = _sanctions(tenant)[1]
    assert (referral.kind, referral.authority, referral.reference, referral.referred_on) == (
        "referral",
        "浦东公安分局",
        "PD-2026-118",
        referred,
    )


def test_a_referral_without_an_authority_is_refused_naming_the_field(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    violation = _violation(tenant, agent, supervisor)
    with pytest.raises(ValidationError) as error:
        decide_sanction(
            violation=violation,
            decision=Decision(referral=Referral(authority="", referred_on=timezone.localdate())),
            actor=supervisor,
        )
    assert error.value.message_dict == {"authority": ["This field is required."]}


def test_compensation_owed_by_the_person_links_the_incident_case(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    case = _case(tenant, UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER]))
    violation = _violation(tenant, agent, supervisor)
    decide_sanction(
        violation=violation,
        decision=Decision(
            fine="100",
            compensation=Compensation(amount="1500.00", reason="Re-made orders", case=case.code),
        ),
        actor=supervisor,
    )
    fresh = _fresh(violation)
    (event,) = _events(tenant, "violations.sanction_decided")
    assert (
        fresh.compensation_amount,
        fresh.compensation_reason,
        fresh.compensation_case,
        event.details["compensation"],
        event.details["case"],
    ) == (Decimal("1500.00"), "Re-made orders", case.code, "1500.00", case.code)


def test_compensation_with_an_unknown_case_is_refused_naming_the_field(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    violation = _violation(tenant, agent, supervisor)
    with pytest.raises(ValidationError) as error:
        decide_sanction(
            violation=violation,
            decision=Decision(
                warning=True, compensation=Compensation(amount="10", reason="loss", case="INC-404")
            ),
            actor=supervisor,
        )
    assert error.value.message_dict == {
        "compensation_case": ["Incident case INC-404 not found in your tenant."]
    }


def test_deciding_twice_is_a_conflict_naming_the_state(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    violation = _violation(tenant, agent, supervisor)
    decide_sanction(violation=violation, decision=Decision(warning=True), actor=supervisor)
    with pytest.raises(Conflict) as error:
        decide_sanction(violation=violation, decision=Decision(fine="10"), actor=supervisor)
    assert str(error.value) == (
        "The violation is “Sanction decided”: a sanction is decided only once, on a recorded "
        "violation."
    )


# --- the person's answer -----------------------------------------------------------------


def test_the_person_answers_once_before_and_once_after_the_decision(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    violation = _violation(tenant, agent, supervisor)
    answer_violation(violation=violation, text="I was calling about a late order.", actor=agent)
    decide_sanction(violation=violation, decision=Decision(warning=True), actor=supervisor)
    answer_violation(violation=violation, text="I accept the warning.", actor=agent)
    with tenant_scope(tenant):
        stages = list(ViolationAnswer.objects.order_by("pk").values_list("stage", flat=True))
    assert (stages, _fresh(violation).state, len(_events(tenant, "violations.answered"))) == (
        ["recorded", "decided"],
        "answered",
        2,
    )


def test_answering_twice_at_the_same_stage_is_a_conflict(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    violation = _violation(tenant, agent, supervisor)
    answer_violation(violation=violation, text="First", actor=agent)
    with pytest.raises(Conflict) as error:
        answer_violation(violation=violation, text="Second", actor=agent)
    assert str(error.value) == "You have already answered at this stage."


def test_answering_a_decision_already_answered_is_a_conflict(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    violation = _violation(tenant, agent, supervisor)
    decide_sanction(violation=violation, decision=Decision(warning=True), actor=supervisor)
    answer_violation(violation=violation, text="OK", actor=agent)
    with pytest.raises(Conflict) as error:
        answer_violation(violation=violation, text="Again", actor=agent)
    assert str(error.value) == "You have already answered this decision."


def test_only_the_person_answers(tenant: Tenant, supervisor: User, agent: User) -> None:
    violation = _violation(tenant, agent, supervisor)
    with pytest.raises(PermissionDenied):
        answer_violation(violation=violation, text="Not mine", actor=supervisor)


def test_an_empty_answer_is_refused_naming_the_field(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    violation = _violation(tenant, agent, supervisor)
    with pytest.raises(ValidationError) as error:
        answer_violation(violation=violation, text=" \n ", actor=agent)
    assert error.value.message_dict == {"text": ["This field is required."]}


# --- closing and withdrawal --------------------------------------------------------------


def test_closing_before_a_decision_is_a_conflict_naming_the_state(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    violation = _violation(tenant, agent, supervisor)
    with pytest.raises(Conflict) as error:
        close_violation(violation=violation, actor=supervisor)
    assert str(error.value) == (
        "The violation is “Recorded”: only one with a decided sanction can be closed."
    )


def test_a_decided_violation_is_closed_and_audited(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    violation = _violation(tenant, agent, supervisor)
    decide_sanction(violation=violation, decision=Decision(warning=True), actor=supervisor)
    close_violation(violation=violation, actor=supervisor)
    (event,) = _events(tenant, "violations.closed")
    assert (_fresh(violation).state, event.details) == (
        "closed",
        {"violation": violation.pk, "from": "decided"},
    )


def test_withdrawal_lifts_the_suspension_and_reveal_works_again(supervisor: User) -> None:
    tenant = supervisor.tenant
    order: Order = OrderFactory(tenant=tenant)
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    violation = _violation(tenant, agent, supervisor)
    decide_sanction(
        violation=violation, decision=Decision(suspend_reveal_until=_until(7)), actor=supervisor
    )
    withdraw_violation(violation=violation, reason="Wrong person identified", actor=supervisor)
    (event,) = _events(tenant, "violations.withdrawn")
    with tenant_scope(tenant):
        held = UserSuspension.objects.get()
    assert (
        _fresh(violation).state,
        _fresh(violation).withdrawn_reason,
        event.details,
        reveal(order, fields=["phone"], actor=agent, purpose=CALL),
    ) == (
        "withdrawn",
        "Wrong person identified",
        {"violation": violation.pk, "from": "decided", "lifted": [held.pk]},
        {"phone": "13912345678"},
    )


def test_a_withdrawn_violation_cannot_be_withdrawn_again(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    violation = _violation(tenant, agent, supervisor)
    withdraw_violation(violation=violation, reason="duplicate", actor=supervisor)
    with pytest.raises(Conflict) as error:
        withdraw_violation(violation=violation, reason="again", actor=supervisor)
    assert str(error.value) == "The violation is “Withdrawn”: it can no longer be withdrawn."


def test_withdrawal_needs_a_reason(tenant: Tenant, supervisor: User, agent: User) -> None:
    violation = _violation(tenant, agent, supervisor)
    with pytest.raises(ValidationError) as error:
        withdraw_violation(violation=violation, reason="", actor=supervisor)
    assert error.value.message_dict == {"reason": ["This field is required."]}


def test_another_supervisor_may_not_withdraw_a_decided_sanction_but_a_tenant_admin_may(
    tenant: Tenant, supervisor: User, agent: User, admin_user: User
) -> None:
    other = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    violation = _violation(tenant, agent, supervisor)
    decide_sanction(violation=violation, decision=Decision(warning=True), actor=supervisor)
    with pytest.raises(PermissionDenied) as error:
        withdraw_violation(violation=violation, reason="I disagree", actor=other)
    withdraw_violation(violation=violation, reason="Wrong person identified", actor=admin_user)
    assert (str(error.value), _fresh(violation).state) == (
        "Only the person who decided the sanction or a tenant administrator may withdraw a "
        "decided violation.",
        "withdrawn",
    )


# --- repeat violations -------------------------------------------------------------------


def _nths(tenant: Tenant) -> list[int]:
    with tenant_scope(tenant):
        return [
            v.nth  # type: ignore[attr-defined]
            for v in with_repeat_count(Violation.objects.all()).order_by("recorded_at", "pk")
        ]


def test_each_violation_counts_the_persons_violations_of_the_last_12_months(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    for _ in range(3):
        _violation(tenant, agent, supervisor)
    _violation(tenant, UserFactory(tenant=tenant, roles=[Role.KITCHEN]), supervisor)
    assert _nths(tenant) == [1, 2, 3, 1]


def test_withdrawn_and_older_violations_are_not_counted(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    old = _violation(tenant, agent, supervisor)
    withdrawn = _violation(tenant, agent, supervisor)
    _violation(tenant, agent, supervisor)
    withdraw_violation(violation=withdrawn, reason="duplicate", actor=supervisor)
    with tenant_scope(tenant):
        Violation.objects.filter(pk=old.pk).update(recorded_at=timezone.now() - timedelta(days=400))
    assert _nths(tenant) == [1, 1, 1]


def test_the_repeat_offenders_filter_lists_people_with_two_violations_in_12_months(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    first = _violation(tenant, agent, supervisor)
    second = _violation(tenant, agent, supervisor)
    _violation(tenant, UserFactory(tenant=tenant, roles=[Role.PACKER]), supervisor)
    with tenant_scope(tenant):
        listed = {v.pk for v in violations_for(supervisor, tenant, ListFilters(repeat=True))}
    assert listed == {first.pk, second.pk}


def test_violation_states_are_the_documented_ones() -> None:
    assert ViolationState.values == ["recorded", "decided", "answered", "closed", "withdrawn"]
