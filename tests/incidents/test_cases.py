"""Leak incident cases: opening, the state machine, who may, containment that takes effect,
promotion of an anomaly, and the case's pages in the back office."""

from __future__ import annotations

import contextlib
import json
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, connections
from django.http import Http404
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from core.errors import Conflict
from incidents.cases import TRANSITIONS, contain, move_case, open_case, promote_anomaly
from incidents.models import (
    AnomalyKind,
    CaseEvent,
    CaseState,
    IncidentCase,
    OrderAnomaly,
)
from incidents.services import report_anomaly
from riders.selectors import eligible_riders
from tenants.actors import SystemActor
from tenants.models import IntegrationToken, Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.factories import (
    PASSWORD,
    IntegrationTokenFactory,
    OrderFactory,
    TenantFactory,
    UserFactory,
    verified_second_factor,
)
from tests.riders.conftest import make_rider

pytestmark = pytest.mark.django_db(databases="__all__")

MANAGERS = [Role.PRIVACY_OFFICER, Role.SUPERVISOR, Role.TENANT_ADMIN]
OTHERS = [Role.CUSTOMER_SERVICE, Role.DISPATCHER, Role.KITCHEN, Role.PACKER, Role.RIDER]
REFUSED = "Only a privacy officer, a supervisor or a tenant administrator handles incident cases."


@pytest.fixture
def tenant() -> Tenant:
    return TenantFactory()


@pytest.fixture
def officer(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER], username="po-wang")


def _open(tenant: Tenant, actor: Any, **overrides: Any) -> IncidentCase:
    values: dict[str, Any] = {
        "title": "Courier's phone lost on route 3",
        "severity": "major",
        "severity_reason": "Labels of 40 orders visible in the phone's photos",
        "kind": "lost_device",
        "data_categories": ["address", "name"],
        "affected_customers": 40,
        "discovered_at": timezone.now() - timedelta(hours=1),
        "discovered_by": "Dispatcher on duty",
        "is_drill": False,
    }
    values.update(overrides)
    return open_case(tenant=tenant, actor=actor, **values)


def _reload(case: IncidentCase) -> IncidentCase:
    with tenant_scope(case.tenant):
        return IncidentCase.objects.get(pk=case.pk)


def _events(tenant: Tenant, action: str) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


def _timeline(case: IncidentCase) -> list[tuple[str, str, str, str]]:
    with tenant_scope(case.tenant):
        return [
            (e.kind, e.from_state, e.to_state, e.actor)
            for e in CaseEvent.objects.filter(case=case).order_by("at", "pk")
        ]


def _in_state(case: IncidentCase, state: str, actor: User) -> IncidentCase:
    """Walk ``case`` to ``state`` along allowed moves."""
    path = {
        "reported": [],
        "contained": ["contained"],
        "investigating": ["investigating"],
        "notified": ["investigating", "notified"],
        "remediated": ["investigating", "remediated"],
        "closed": ["investigating", "remediated", "closed"],
    }[state]
    for step in path:
        case = move_case(case=case, to=step, actor=actor, note="")
    return case


# Opening.


def test_opening_numbers_the_cases_of_a_tenant_and_records_who_and_an_event(
    tenant: Tenant, officer: User
) -> None:
    first = _open(tenant, officer)
    second = _open(tenant, officer, is_drill=True)
    year = timezone.localtime().year
    (event, _second_event) = _events(tenant, "incidents.case_opened")
    assert (
        first.code,
        second.code,
        first.state,
        first.opened_by,
        first.data_categories,
        second.is_drill,
        event.details,
        _timeline(first),
    ) == (
        f"INC-{year}-0001",
        f"INC-{year}-0002",
        "reported",
        f"user:{officer.pk}",
        ["name", "address"],
        True,
        {
            "case": first.pk,
            "severity": "major",
            "kind": "lost_device",
            "drill": False,
            "anomaly": None,
        },
        [("opened", "", "reported", f"user:{officer.pk}")],
    )


def test_numbers_are_per_tenant(tenant: Tenant, officer: User) -> None:
    _open(tenant, officer)
    elsewhere = TenantFactory()
    case = _open(elsewhere, UserFactory(tenant=elsewhere, roles=[Role.SUPERVISOR]))
    assert case.number == 1


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        ({"title": ""}, {"title": ["This field is required."]}),
        ({"title": "x" * 121}, {"title": ["At most 120 characters."]}),
        ({"title": "line\nbreak"}, {"title": ["Must not contain control characters."]}),
        ({"severity": "huge"}, {"severity": ["Choose a severity."]}),
        ({"kind": "meteor"}, {"kind": ["Choose a kind."]}),
        (
            {"data_categories": ["id_card"]},
            {"data_categories": ["Choose from the listed categories."]},
        ),
        (
            {"affected_customers": -1},
            {"affected_customers": ["Give a number from 0 to 10,000,000."]},
        ),
        (
            {"discovered_at": timezone.now() + timedelta(days=1)},
            {"discovered_at": ["Cannot be in the future."]},
        ),
        (
            {"severity_reason": "\x00"},
            {"severity_reason": ["Must not contain control characters."]},
        ),
    ],
)
def test_bad_input_is_refused_and_opens_nothing(
    tenant: Tenant, officer: User, overrides: dict[str, Any], errors: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError) as error:
        _open(tenant, officer, **overrides)
    with tenant_scope(tenant):
        count = IncidentCase.objects.count()
    assert (error.value.message_dict, count) == (errors, 0)


# The state machine.

ALL_MOVES = [(source, target) for source in CaseState.values for target in CaseState.values]


@pytest.mark.parametrize(("source", "target"), ALL_MOVES)
def test_every_move_is_allowed_exactly_as_the_table_says(
    tenant: Tenant, officer: User, source: str, target: str
) -> None:
    case = _in_state(_open(tenant, officer), source, officer)
    allowed = target in TRANSITIONS[source]
    refusal = ""
    try:
        move_case(case=case, to=target, actor=officer, note="checked")
    except Conflict as error:
        refusal = error.message
    expected = (
        ""
        if allowed
        else f"A case cannot move from “{CaseState(source).label}” to “{CaseState(target).label}”."
    )
    assert (refusal, _reload(case).state) == (expected, target if allowed else source)


def test_a_closed_case_is_reopened_into_investigation_and_every_move_is_audited(
    tenant: Tenant, officer: User
) -> None:
    case = _in_state(_open(tenant, officer), "closed", officer)
    supervisor = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    move_case(case=case, to="investigating", actor=supervisor, note="new evidence")
    moves = _events(tenant, "incidents.case_moved")
    assert (
        _reload(case).state,
        [(e.details["from_state"], e.details["to_state"]) for e in moves],
        moves[-1].actor,
        _timeline(case)[-1],
    ) == (
        "investigating",
        [
            ("reported", "investigating"),
            ("investigating", "remediated"),
            ("remediated", "closed"),
            ("closed", "investigating"),
        ],
        f"user:{supervisor.pk}",
        ("moved", "closed", "investigating", f"user:{supervisor.pk}"),
    )


def test_audit_events_hold_no_texts_of_the_case(tenant: Tenant, officer: User) -> None:
    case = _open(tenant, officer, title="Secret title words", discovered_by="Kitchen lead")
    move_case(case=case, to="contained", actor=officer, note="a private note")
    user = UserFactory(tenant=tenant, roles=[Role.KITCHEN])
    contain(
        case=case,
        action="end_sessions",
        target_id=user.pk,
        reason="a private reason",
        actor=officer,
    )
    with tenant_scope(tenant):
        dumped = json.dumps(
            [e.details for e in AuditEvent.objects.filter(action__startswith="incidents.")]
        )
    assert [w in dumped for w in ("Secret", "Kitchen lead", "private")] == [False, False, False]


def test_an_unknown_state_is_a_validation_error(tenant: Tenant, officer: User) -> None:
    case = _open(tenant, officer)
    with pytest.raises(ValidationError) as error:
        move_case(case=case, to="lost", actor=officer, note="")
    assert error.value.message_dict == {"to": ["Choose a state."]}


# Who may.


@pytest.mark.parametrize(
    ("role", "allowed"), [(r, True) for r in MANAGERS] + [(r, False) for r in OTHERS]
)
def test_who_may_open(tenant: Tenant, role: Role, allowed: bool) -> None:
    actor = UserFactory(tenant=tenant, roles=[role])
    refusal = ""
    try:
        _open(tenant, actor)
    except PermissionDenied as error:
        refusal = str(error)
    assert refusal == ("" if allowed else REFUSED)


@pytest.mark.parametrize(
    ("role", "allowed"), [(r, True) for r in MANAGERS] + [(r, False) for r in OTHERS]
)
def test_who_may_move(tenant: Tenant, officer: User, role: Role, allowed: bool) -> None:
    case = _open(tenant, officer)
    actor = UserFactory(tenant=tenant, roles=[role])
    with contextlib.suppress(PermissionDenied):
        move_case(case=case, to="contained", actor=actor, note="")
    assert _reload(case).state == ("contained" if allowed else "reported")


@pytest.mark.parametrize(
    ("role", "allowed"), [(r, True) for r in MANAGERS] + [(r, False) for r in OTHERS]
)
def test_who_may_contain(tenant: Tenant, officer: User, role: Role, allowed: bool) -> None:
    case = _open(tenant, officer)
    actor = UserFactory(tenant=tenant, roles=[role])
    target = UserFactory(tenant=tenant, roles=[Role.PACKER])
    with contextlib.suppress(PermissionDenied):
        contain(case=case, action="deactivate_user", target_id=target.pk, reason="r", actor=actor)
    target.refresh_from_db()
    assert target.is_active is not allowed


def test_a_manager_of_another_tenant_may_not_move_a_case(tenant: Tenant, officer: User) -> None:
    case = _open(tenant, officer)
    stranger = UserFactory(tenant=TenantFactory(), roles=[Role.TENANT_ADMIN])
    with pytest.raises(PermissionDenied):
        move_case(case=case, to="contained", actor=stranger, note="")


def test_a_system_actor_may_not_open_a_case(tenant: Tenant) -> None:
    with pytest.raises(PermissionDenied):
        _open(tenant, SystemActor("tests"))


# Containment.


def _logged_in(user: User) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_ending_sessions_logs_the_user_out_and_is_recorded(tenant: Tenant, officer: User) -> None:
    case = _open(tenant, officer)
    rider = UserFactory(tenant=tenant, roles=[Role.RIDER])
    client = _logged_in(rider)
    before = client.get("/rider/")
    event = contain(
        case=case, action="end_sessions", target_id=rider.pk, reason="phone lost", actor=officer
    )
    after = client.get("/rider/")
    (audit,) = _events(tenant, "incidents.containment_done")
    assert (
        before.status_code,
        after.status_code,
        "/login" in after.url,
        event.count,
        event.target,
        event.note,
        audit.details,
        len(_events(tenant, "user.sessions_ended")),
    ) == (
        200,
        302,
        True,
        1,
        f"user:{rider.pk}",
        "phone lost",
        {
            "case": case.pk,
            "containment": "end_sessions",
            "target": f"user:{rider.pk}",
            "count": 1,
            "drill": False,
        },
        1,
    )


def test_a_deactivated_user_cannot_log_in_and_loses_their_sessions(
    tenant: Tenant, officer: User
) -> None:
    case = _open(tenant, officer)
    insider = UserFactory(tenant=tenant, roles=[Role.KITCHEN])
    client = _logged_in(insider)
    contain(case=case, action="deactivate_user", target_id=insider.pk, reason="r", actor=officer)
    insider.refresh_from_db()
    assert (
        insider.is_active,
        Client().login(username=insider.username, password=PASSWORD),
        client.get("/admin/").status_code,
        len(_events(tenant, "user.deactivated")),
    ) == (False, False, 302, 1)


def test_a_revoked_token_gets_401(tenant: Tenant, officer: User) -> None:
    case = _open(tenant, officer)
    token = IntegrationTokenFactory(tenant=tenant)
    header = {"HTTP_AUTHORIZATION": f"Bearer {token.raw}"}
    before = Client().get("/api/v1/orders/", **header)
    contain(case=case, action="revoke_token", target_id=token.pk, reason="leaked", actor=officer)
    after = Client().get("/api/v1/orders/", **header)
    assert (before.status_code, after.status_code) == (200, 401)


def test_a_rider_whose_user_is_deactivated_cannot_be_dispatched(
    tenant: Tenant, officer: User
) -> None:
    # Suspending a rider from dispatch alone lives in riders (above incidents); deactivating
    # the rider's user takes them out of dispatch too (riders.selectors.eligible_riders).
    case = _open(tenant, officer)
    rider = make_rider(tenant)
    before = [r.pk for r in eligible_riders(tenant)]
    contain(case=case, action="deactivate_user", target_id=rider.user_id, reason="r", actor=officer)
    assert (before, eligible_riders(tenant)) == ([rider.pk], [])


@pytest.mark.parametrize("action", ["end_sessions", "deactivate_user", "revoke_token"])
def test_another_tenants_target_is_not_found(tenant: Tenant, officer: User, action: str) -> None:
    case = _open(tenant, officer)
    elsewhere = TenantFactory()
    target = (
        IntegrationTokenFactory(tenant=elsewhere)
        if action == "revoke_token"
        else UserFactory(tenant=elsewhere, roles=[Role.KITCHEN])
    )
    with pytest.raises(Http404):
        contain(case=case, action=action, target_id=target.pk, reason="r", actor=officer)


def test_containment_needs_a_reason(tenant: Tenant, officer: User) -> None:
    case = _open(tenant, officer)
    with pytest.raises(ValidationError) as error:
        contain(case=case, action="end_sessions", target_id=officer.pk, reason=" ", actor=officer)
    assert error.value.message_dict == {"reason": ["This field is required."]}


def test_a_closed_case_takes_no_containment(tenant: Tenant, officer: User) -> None:
    case = _in_state(_open(tenant, officer), "closed", officer)
    with pytest.raises(Conflict) as error:
        contain(case=case, action="end_sessions", target_id=officer.pk, reason="r", actor=officer)
    assert error.value.message == "The case is closed: reopen it before taking an action."


def test_one_cannot_deactivate_oneself(tenant: Tenant, officer: User) -> None:
    case = _open(tenant, officer)
    with pytest.raises(Conflict) as error:
        contain(
            case=case, action="deactivate_user", target_id=officer.pk, reason="r", actor=officer
        )
    assert error.value.message == "You cannot deactivate yourself."


# Promotion of an anomaly.


@pytest.fixture
def anomaly(tenant: Tenant) -> OrderAnomaly:
    return report_anomaly(
        order=OrderFactory(tenant=tenant), kind=AnomalyKind.LOST, actor=SystemActor("tests")
    )


def test_promoting_an_anomaly_keeps_the_link_once(
    tenant: Tenant, officer: User, anomaly: OrderAnomaly
) -> None:
    case = promote_anomaly(anomaly=anomaly, actor=officer)
    with pytest.raises(Conflict) as error:
        promote_anomaly(anomaly=anomaly, actor=officer)
    (event,) = _events(tenant, "incidents.case_opened")
    assert (
        _reload(case).anomaly_id,
        case.kind,
        case.affected_customers,
        event.details["anomaly"],
        error.value.message,
    ) == (
        anomaly.pk,
        "lost_package",
        1,
        anomaly.pk,
        f"This anomaly was already promoted to the case {case.code}.",
    )


def test_customer_service_may_not_promote(tenant: Tenant, anomaly: OrderAnomaly) -> None:
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    with pytest.raises(PermissionDenied):
        promote_anomaly(anomaly=anomaly, actor=agent)


# The back office.


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    verified_second_factor(client, user)
    return client


def _page(client: Client, case: IncidentCase) -> Any:
    url = reverse("admin:incidents_incidentcase_change", args=[case.pk])
    return client.get(url, HTTP_ACCEPT_LANGUAGE="en")


def test_the_case_page_shows_moves_containment_and_timeline_by_username(
    tenant: Tenant, officer: User
) -> None:
    case = _open(tenant, officer, is_drill=True)
    page = _page(_client(officer), case).content.decode()
    assert (
        'id="move-form"' in page,
        "Move to “Contained”" in page,
        "Move to “Closed”" in page,
        'id="containment-form"' in page,
        "DRILL" in page,
        "po-wang" in page,
        f"user:{officer.pk}" in page,
    ) == (True, True, False, True, True, True, False)


def test_the_list_shows_the_drill_badge_and_the_opener(tenant: Tenant, officer: User) -> None:
    _open(tenant, officer, is_drill=True, title="Drill of a lost phone")
    client = _client(officer)
    page = client.get(
        reverse("admin:incidents_incidentcase_changelist"), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert ("Drill of a lost phone" in page, "baomi-drill" in page, "po-wang" in page) == (
        True,
        True,
        True,
    )


def test_a_move_on_the_page_redirects_and_a_repeat_changes_nothing(
    tenant: Tenant, officer: User
) -> None:
    case = _open(tenant, officer)
    client = _client(officer)
    url = reverse("admin:incidents_incidentcase_move", args=[case.pk])
    first = client.post(url, {"to": "contained", "note": "sealed"}, HTTP_ACCEPT_LANGUAGE="en")
    again = client.post(url, {"to": "contained", "note": "sealed"}, HTTP_ACCEPT_LANGUAGE="en")
    page = _page(client, case).content.decode()
    assert (
        first.status_code,
        first.url,
        again.status_code,
        _reload(case).state,
        len(_events(tenant, "incidents.case_moved")),
        "A case cannot move from “Contained” to “Contained”." in page,
    ) == (
        302,
        reverse("admin:incidents_incidentcase_change", args=[case.pk]),
        302,
        "contained",
        1,
        True,
    )


def test_containment_on_the_page_acts_and_shows_on_the_timeline(
    tenant: Tenant, officer: User
) -> None:
    case = _open(tenant, officer)
    packer = UserFactory(tenant=tenant, roles=[Role.PACKER], username="packer-zhao")
    client = _client(officer)
    url = reverse("admin:incidents_incidentcase_contain", args=[case.pk])
    response = client.post(
        url,
        {"action": "deactivate_user", "target": f"user-{packer.pk}", "reason": "shared login"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    page = _page(client, case).content.decode()
    packer.refresh_from_db()
    assert (
        response.status_code,
        packer.is_active,
        "Deactivate a user: packer-zhao" in page,
        "shared login" in page,
    ) == (302, False, True, True)


def test_a_token_chosen_for_a_user_action_is_refused_with_a_message(
    tenant: Tenant, officer: User
) -> None:
    case = _open(tenant, officer)
    token = IntegrationTokenFactory(tenant=tenant)
    client = _client(officer)
    url = reverse("admin:incidents_incidentcase_contain", args=[case.pk])
    client.post(
        url,
        {"action": "end_sessions", "target": f"token-{token.pk}", "reason": "r"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    page = _page(client, case).content.decode()
    with tenant_scope(tenant):
        revoked = IntegrationToken.objects.get(pk=token.pk).revoked_at
    assert ("Choose a user." in page, revoked) == (True, None)


def test_another_tenants_case_is_404_on_page_and_posts(tenant: Tenant, officer: User) -> None:
    case = _open(tenant, officer)
    elsewhere = TenantFactory()
    client = _client(UserFactory(tenant=elsewhere, roles=[Role.TENANT_ADMIN]))
    move = reverse("admin:incidents_incidentcase_move", args=[case.pk])
    contain_url = reverse("admin:incidents_incidentcase_contain", args=[case.pk])
    assert (
        _page(client, case).status_code,
        client.post(move, {"to": "contained"}).status_code,
        client.post(
            contain_url, {"action": "end_sessions", "target": f"user-{officer.pk}", "reason": "r"}
        ).status_code,
        _reload(case).state,
    ) == (404, 404, 404, "reported")


@pytest.mark.parametrize("role", OTHERS[:3])
def test_staff_without_a_case_role_get_404(tenant: Tenant, officer: User, role: Role) -> None:
    case = _open(tenant, officer)
    client = _client(UserFactory(tenant=tenant, roles=[role]))
    move = reverse("admin:incidents_incidentcase_move", args=[case.pk])
    assert (
        _page(client, case).status_code,
        client.post(move, {"to": "contained"}).status_code,
    ) == (
        404,
        404,
    )


def test_the_add_form_opens_a_case_and_goes_to_it(tenant: Tenant, officer: User) -> None:
    client = _client(officer)
    now = timezone.localtime()
    response = client.post(
        reverse("admin:incidents_incidentcase_add"),
        {
            "title": "Label sent to the wrong kitchen printer",
            "severity": "general",
            "severity_reason": "One label, recovered within minutes",
            "kind": "mis_sent_label",
            "data_categories": ["name", "address"],
            "affected_customers": "1",
            "discovered_at_0": now.strftime("%Y-%m-%d"),
            "discovered_at_1": now.strftime("%H:%M:%S"),
            "discovered_by": "Packer on shift",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    with tenant_scope(tenant):
        case = IncidentCase.objects.get()
    assert (
        response.status_code,
        response.url,
        case.opened_by,
        case.data_categories,
        len(_events(tenant, "incidents.case_opened")),
    ) == (
        302,
        reverse("admin:incidents_incidentcase_change", args=[case.pk]),
        f"user:{officer.pk}",
        ["name", "address"],
        1,
    )


def test_the_anomaly_page_promotes_and_goes_to_the_case(
    tenant: Tenant, officer: User, anomaly: OrderAnomaly
) -> None:
    client = _client(officer)
    page = client.get(
        reverse("admin:incidents_orderanomaly_change", args=[anomaly.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    response = client.post(reverse("admin:incidents_orderanomaly_promote", args=[anomaly.pk]))
    with tenant_scope(tenant):
        case = IncidentCase.objects.get()
    case_page = _page(client, case).content.decode()
    assert (
        "Promote to an incident case" in page,
        response.url,
        case.anomaly_id,
        reverse("admin:incidents_orderanomaly_change", args=[anomaly.pk]) in case_page,
    ) == (True, reverse("admin:incidents_incidentcase_change", args=[case.pk]), anomaly.pk, True)


def test_customer_service_sees_no_promote_button(tenant: Tenant, anomaly: OrderAnomaly) -> None:
    client = _client(UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE]))
    page = client.get(
        reverse("admin:incidents_orderanomaly_change", args=[anomaly.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    response = client.post(reverse("admin:incidents_orderanomaly_promote", args=[anomaly.pk]))
    with tenant_scope(tenant):
        count = IncidentCase.objects.count()
    assert ("Promote to an incident case" in page, response.status_code, count) == (False, 302, 0)


def test_a_bad_add_form_shows_the_errors_and_opens_nothing(tenant: Tenant, officer: User) -> None:
    client = _client(officer)
    response = client.post(
        reverse("admin:incidents_incidentcase_add"),
        {
            "title": "bell\x07",
            "severity": "general",
            "severity_reason": "",
            "kind": "other",
            "affected_customers": "-3",
            "discovered_by": "Packer on shift",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    page = response.content.decode()
    with tenant_scope(tenant):
        count = IncidentCase.objects.count()
    assert (response.status_code, "This field is required." in page, count) == (200, True, 0)


# Races (row locks need PostgreSQL).


def _race(*calls: Any) -> list[str]:
    barrier, outcomes = threading.Barrier(len(calls)), []

    def attempt(call: Any) -> None:
        try:
            barrier.wait()
            call()
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_two_concurrent_moves_of_one_case_cannot_both_succeed() -> None:
    tenant = TenantFactory()
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    supervisor = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    case = _open(tenant, officer)
    outcomes = _race(
        lambda: move_case(case=case, to="contained", actor=officer, note=""),
        lambda: move_case(case=case, to="contained", actor=supervisor, note=""),
    )
    assert (outcomes, len(_events(tenant, "incidents.case_moved"))) == (["conflict", "ok"], 1)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_two_concurrent_openings_get_different_numbers() -> None:
    tenant = TenantFactory()
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    supervisor = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    outcomes = _race(lambda: _open(tenant, officer), lambda: _open(tenant, supervisor))
    with tenant_scope(tenant):
        numbers = sorted(IncidentCase.objects.values_list("number", flat=True))
    assert (outcomes, numbers) == (["ok", "ok"], [1, 2])
