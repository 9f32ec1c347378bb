"""Drills (issue 19, point 6, §7.2.2): planning, who may, running as an incident case in
drill mode through the hook incidents registers, closing with lessons learned, the
12-month count and its flag, the audit events, and the back office's pages."""

from __future__ import annotations

import threading
from collections.abc import Iterator
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
from incidents.cases import move_case
from incidents.models import CaseKind, CaseSeverity, IncidentCase
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.factories import TenantFactory, UserFactory, verified_second_factor
from training import drills
from training.drills import (
    close_drill,
    drill_flag,
    drill_for,
    drills_last_12_months,
    plan_drill,
    run_drill,
)
from training.models import Drill, DrillState

pytestmark = pytest.mark.django_db(databases="__all__")

MANAGERS = [Role.TENANT_ADMIN, Role.SUPERVISOR, Role.PRIVACY_OFFICER]
OTHERS = [Role.CUSTOMER_SERVICE, Role.DISPATCHER, Role.KITCHEN, Role.PACKER, Role.RIDER]


@pytest.fixture
def tenant() -> Tenant:
    return TenantFactory()


@pytest.fixture
def officer(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER], username="po-li")


def _plan(tenant: Tenant, actor: Any, **overrides: Any) -> Drill:
    values: dict[str, Any] = {
        "scenario": "lost_rider_phone",
        "title": "Rider's phone left in a taxi",
        "scheduled_for": timezone.now() + timedelta(days=7),
        "participant_roles": ["rider", "dispatcher"],
        "participant_ids": [],
    }
    values.update(overrides)
    return plan_drill(tenant=tenant, actor=actor, **values)


def _reload(drill: Drill) -> Drill:
    with tenant_scope(drill.tenant_id):
        return Drill.objects.get(pk=drill.pk)


def _events(tenant: Tenant, action: str) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


def _close_case(case_id: int, tenant: Tenant, actor: User) -> None:
    with tenant_scope(tenant):
        case = IncidentCase.objects.get(pk=case_id)
    for state in ("investigating", "remediated", "closed"):
        case = move_case(case=case, to=state, actor=actor)


# --- planning and who may -------------------------------------------------------------------


@pytest.mark.parametrize("role", MANAGERS)
def test_a_manager_plans_a_drill_audited_without_names(tenant: Tenant, role: Role) -> None:
    planner = UserFactory(tenant=tenant, roles=[role])
    named = UserFactory(tenant=tenant, roles=[Role.RIDER], username="rider-zhang")
    drill = _plan(tenant, planner, participant_ids=[named.pk, str(named.pk)])
    [event] = _events(tenant, "training.drill_planned")
    assert (
        drill.state,
        drill.participant_roles,
        drill.participants,
        drill.planned_by,
        event.details,
    ) == (
        DrillState.PLANNED,
        ["dispatcher", "rider"],  # in the order of the roles' list
        [f"user:{named.pk}"],
        f"user:{planner.pk}",
        {"drill": drill.pk, "scenario": "lost_rider_phone", "roles": 2, "participants": 1},
    )


@pytest.mark.parametrize("role", OTHERS)
def test_other_roles_may_not_plan_run_or_close(tenant: Tenant, officer: User, role: Role) -> None:
    other = UserFactory(tenant=tenant, roles=[role])
    drill = _plan(tenant, officer)
    with pytest.raises(PermissionDenied):
        _plan(tenant, other)
    with pytest.raises(PermissionDenied):
        run_drill(drill=drill, actor=other)
    with pytest.raises(PermissionDenied):
        close_drill(drill=drill, outcome="cancelled", lessons="", actor=other)
    assert _reload(drill).state == DrillState.PLANNED


def test_another_tenants_manager_is_refused_and_gets_404(tenant: Tenant, officer: User) -> None:
    drill = _plan(tenant, officer)
    stranger = UserFactory(tenant=TenantFactory(), roles=[Role.TENANT_ADMIN])
    with pytest.raises(PermissionDenied):
        run_drill(drill=drill, actor=stranger)
    with pytest.raises(PermissionDenied):
        _plan(tenant, stranger)
    with tenant_scope(stranger.tenant), pytest.raises(Http404):
        drill_for(stranger, drill.pk)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"scenario": "alien_invasion"}, "scenario"),
        ({"title": ""}, "title"),
        ({"title": "bell\x07"}, "title"),
        ({"title": "x" * 121}, "title"),
        ({"scheduled_for": "tomorrow"}, "scheduled_for"),
        ({"scheduled_for": timezone.now() + timedelta(days=800)}, "scheduled_for"),
        ({"scheduled_for": timezone.now() - timedelta(days=400)}, "scheduled_for"),
        ({"participant_roles": ["astronaut"]}, "participant_roles"),
        ({"participant_roles": [], "participant_ids": []}, "participant_roles"),
        ({"participant_ids": ["１２"]}, "participants"),
        ({"participant_ids": [999_999]}, "participants"),
    ],
)
def test_bad_input_is_refused_and_plans_nothing(
    tenant: Tenant, officer: User, overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as error:
        _plan(tenant, officer, **overrides)
    with tenant_scope(tenant):
        count = Drill.objects.count()
    assert (field in error.value.message_dict, count) == (True, 0)


def test_another_tenants_user_cannot_be_named(tenant: Tenant, officer: User) -> None:
    foreign = UserFactory(tenant=TenantFactory(), roles=[Role.RIDER])
    with pytest.raises(ValidationError, match="Choose from the listed users"):
        _plan(tenant, officer, participant_ids=[foreign.pk])


# --- running as an incident case in drill mode ------------------------------------------------


def test_running_opens_a_marked_drill_case_through_the_hook(tenant: Tenant, officer: User) -> None:
    drill = _plan(tenant, officer, scenario="insider_access", title="Agent browses old orders")
    case = run_drill(drill=drill, actor=officer)
    with tenant_scope(tenant):
        opened = IncidentCase.objects.get()
    drill = _reload(drill)
    [event] = _events(tenant, "training.drill_run")
    [case_event] = _events(tenant, "incidents.case_opened")
    assert (
        opened.is_drill,
        opened.kind,
        opened.severity,
        opened.title,
        opened.affected_customers,
        (drill.state, drill.case_id, drill.case_code),
        (case.id, case.code, case.state, case.closed),
        case.url,
        event.details,
        case_event.details["drill"],
    ) == (
        True,
        CaseKind.INSIDER_ACCESS,
        CaseSeverity.MAJOR,
        "Drill: Agent browses old orders",
        0,
        (DrillState.RUNNING, opened.pk, opened.code),
        (opened.pk, opened.code, "Reported", False),
        reverse("admin:incidents_incidentcase_change", args=[opened.pk]),
        {"drill": drill.pk, "case": opened.pk, "case_code": opened.code},
        True,
    )


def test_a_drill_runs_once(tenant: Tenant, officer: User) -> None:
    drill = _plan(tenant, officer)
    case = run_drill(drill=drill, actor=officer)
    with pytest.raises(Conflict, match=case.code):
        run_drill(drill=drill, actor=officer)
    with tenant_scope(tenant):
        assert IncidentCase.objects.count() == 1


def test_the_case_state_is_read_back_and_an_open_case_blocks_closing(
    tenant: Tenant, officer: User
) -> None:
    drill = _plan(tenant, officer)
    case = run_drill(drill=drill, actor=officer)
    with pytest.raises(Conflict, match=f"Close the drill case {case.code}"):
        close_drill(drill=drill, outcome="held", lessons="Went fine", actor=officer)
    _close_case(case.id, tenant, officer)
    linked = drills.linked_case(_reload(drill))
    assert linked is not None and (linked.state, linked.closed) == ("Closed", True)
    closed = close_drill(
        drill=drill,
        outcome="held",
        lessons="Dispatch found the rider's orders in 4 minutes.\nWipe took too long.",
        actor=officer,
    )
    [event] = _events(tenant, "training.drill_closed")
    assert (
        closed.state,
        closed.outcome,
        closed.held_at == closed.run_at,
        "Wipe took too long." in closed.lessons,
        event.details,
    ) == (
        DrillState.CLOSED,
        "held",
        True,
        True,
        {"drill": drill.pk, "outcome": "held", "case": case.id},
    )


@pytest.fixture
def no_runner() -> Iterator[None]:
    saved = dict(drills._hooks)
    drills.unregister_drill_runner()
    yield
    drills._hooks.update(saved)


@pytest.mark.usefixtures("no_runner")
def test_without_a_runner_a_drill_is_recorded_with_its_own_outcome(
    tenant: Tenant, officer: User
) -> None:
    drill = _plan(tenant, officer, scheduled_for=timezone.now() - timedelta(days=2))
    with pytest.raises(Conflict, match="close the drill with its outcome"):
        run_drill(drill=drill, actor=officer)
    closed = close_drill(drill=drill, outcome="partly", lessons="Tabletop only", actor=officer)
    with tenant_scope(tenant):
        cases = IncidentCase.objects.count()
    assert (closed.state, closed.case_id, closed.held_at, cases) == (
        DrillState.CLOSED,
        None,
        drill.scheduled_for,
        0,
    )


# --- closing -------------------------------------------------------------------------------


def test_closing_needs_lessons_unless_cancelled_and_happens_once(
    tenant: Tenant, officer: User
) -> None:
    drill = _plan(tenant, officer)
    with pytest.raises(ValidationError, match="required"):
        close_drill(drill=drill, outcome="held", lessons="  ", actor=officer)
    with pytest.raises(ValidationError, match="outcome"):
        close_drill(drill=drill, outcome="great", lessons="x", actor=officer)
    with pytest.raises(ValidationError, match="control characters"):
        close_drill(drill=drill, outcome="held", lessons="a\x00b", actor=officer)
    cancelled = close_drill(drill=drill, outcome="cancelled", lessons="", actor=officer)
    with pytest.raises(Conflict, match="already closed"):
        close_drill(drill=drill, outcome="held", lessons="again", actor=officer)
    with pytest.raises(Conflict, match="closed"):
        run_drill(drill=drill, actor=officer)
    assert (
        cancelled.outcome,
        cancelled.held_at,
        len(_events(tenant, "training.drill_closed")),
    ) == (
        "cancelled",
        None,
        1,
    )


# --- the 12-month count and its flag -------------------------------------------------------


def test_the_12_month_count_and_flag_with_time_moved(
    tenant: Tenant, officer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (drills_last_12_months(tenant), drill_flag(tenant)) == (0, True)
    held = _plan(tenant, officer, scheduled_for=timezone.now() - timedelta(days=1))
    close_drill(drill=held, outcome="held", lessons="ok", actor=officer)
    cancelled = _plan(tenant, officer)
    close_drill(drill=cancelled, outcome="cancelled", lessons="", actor=officer)
    _plan(tenant, officer)  # planned, not held
    other = TenantFactory()
    now = timezone.now()
    counts = [(drills_last_12_months(tenant), drill_flag(tenant), drill_flag(other))]
    for days in (300, 366):
        monkeypatch.setattr("django.utils.timezone.now", lambda days=days: now + timedelta(days))
        counts.append((drills_last_12_months(tenant.pk), drill_flag(tenant), drill_flag(other)))
    assert counts == [(1, False, True), (1, False, True), (0, True, True)]


# --- the back office ---------------------------------------------------------------------


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    verified_second_factor(client, user)
    return client


def test_the_list_shows_the_drills_and_the_12_month_banner(tenant: Tenant, officer: User) -> None:
    client = _client(officer)
    url = reverse("admin:training_drill_changelist")
    empty = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    drill = _plan(tenant, officer, scheduled_for=timezone.now() - timedelta(hours=3))
    case = run_drill(drill=drill, actor=officer)
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    _close_case(case.id, tenant, officer)
    close_drill(drill=drill, outcome="held", lessons="ok", actor=officer)
    after = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert (
        "No drill held in the last 12 months" in empty,
        "Rider&#x27;s phone left in a taxi" in page,
        "A rider&#x27;s phone is lost" in page,
        f'href="{case.url}"' in page,
        f"{case.code} · Reported" in page,
        "1 drill held in the last 12 months." in after,
        "No drill held" in after,
    ) == (True, True, True, True, True, True, False)


def test_the_drill_page_names_the_planner_by_username(tenant: Tenant, officer: User) -> None:
    drill = _plan(tenant, officer, scheduled_for=timezone.now() + timedelta(days=2))
    # Another officer looks (the viewer's own name is in every page's user menu).
    client = _client(UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER], username="po-wang"))
    page = client.get(reverse("admin:training_drill_change", args=[drill.pk])).content.decode()
    assert (officer.username in page, f"user:{officer.pk}" in page) == (True, False)


def test_the_add_form_plans_and_goes_to_the_drill(tenant: Tenant, officer: User) -> None:
    rider = UserFactory(tenant=tenant, roles=[Role.RIDER], username="rider-wu")
    client = _client(officer)
    when = timezone.localtime() + timedelta(days=3)
    form = client.get(reverse("admin:training_drill_add"), HTTP_ACCEPT_LANGUAGE="en")
    response = client.post(
        reverse("admin:training_drill_add"),
        {
            "scenario": "mis_sent_label",
            "title": "Label printed at the wrong branch",
            "scheduled_for_0": when.strftime("%Y-%m-%d"),
            "scheduled_for_1": when.strftime("%H:%M:%S"),
            "participant_roles": ["packer", "kitchen"],
            "participants": [str(rider.pk)],
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    with tenant_scope(tenant):
        drill = Drill.objects.get()
    page = client.get(
        reverse("admin:training_drill_change", args=[drill.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert (
        "rider-wu" in form.content.decode(),
        response.status_code,
        response.url,
        drill.participants,
        drill.participant_roles,
        "rider-wu" in page,
        "po-li" in page,
        'id="drill-run-form"' in page,
        'id="drill-close-form"' in page,
        len(_events(tenant, "training.drill_planned")),
    ) == (
        True,
        302,
        reverse("admin:training_drill_change", args=[drill.pk]),
        [f"user:{rider.pk}"],
        ["kitchen", "packer"],
        True,
        True,
        True,
        True,
        1,
    )


def test_a_bad_add_form_shows_the_errors_and_plans_nothing(tenant: Tenant, officer: User) -> None:
    response = _client(officer).post(
        reverse("admin:training_drill_add"),
        {"scenario": "other", "title": "bell\x07", "participants": ["999999"]},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    with tenant_scope(tenant):
        count = Drill.objects.count()
    assert (
        response.status_code,
        "This field is required." in response.content.decode(),
        count,
    ) == (
        200,
        True,
        0,
    )


def test_the_run_and_close_panels_work_and_refusals_are_messages(
    tenant: Tenant, officer: User
) -> None:
    drill = _plan(tenant, officer)
    client = _client(officer)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"  # the messages are written at the POST
    page_url = reverse("admin:training_drill_change", args=[drill.pk])
    run = client.post(reverse("admin:training_drill_run", args=[drill.pk]))
    again = client.post(reverse("admin:training_drill_run", args=[drill.pk]))
    drill = _reload(drill)
    blocked = client.post(
        reverse("admin:training_drill_close", args=[drill.pk]),
        {"outcome": "held", "lessons": "fine"},
    )
    page = client.get(page_url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    _close_case(drill.case_id, tenant, officer)
    closed = client.post(
        reverse("admin:training_drill_close", args=[drill.pk]),
        {"outcome": "partly", "lessons": "Containment took 20 minutes"},
    )
    final = client.get(page_url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    with tenant_scope(tenant):
        cases = IncidentCase.objects.filter(is_drill=True).count()
    assert (
        (run.status_code, run.url, again.status_code, blocked.status_code, closed.status_code),
        cases,
        f"This drill already ran as the case {drill.case_code}." in page,
        f"Close the drill case {drill.case_code} before closing the drill." in page,
        'id="drill-run-form"' in page,
        _reload(drill).state,
        "Containment took 20 minutes" in final,
        'id="drill-close-form"' in final,
        f"{drill.case_code}</a> · Closed" in final,
    ) == (
        (302, page_url, 302, 302, 302),
        1,
        True,
        True,
        False,
        DrillState.CLOSED,
        True,
        False,
        True,
    )


@pytest.mark.parametrize("role", OTHERS[:3])
def test_staff_without_a_drill_role_get_404(tenant: Tenant, officer: User, role: Role) -> None:
    drill = _plan(tenant, officer)
    client = _client(UserFactory(tenant=tenant, roles=[role]))
    assert (
        client.get(reverse("admin:training_drill_change", args=[drill.pk])).status_code,
        client.post(reverse("admin:training_drill_run", args=[drill.pk])).status_code,
        client.post(reverse("admin:training_drill_close", args=[drill.pk])).status_code,
        _reload(drill).state,
    ) == (404, 404, 404, DrillState.PLANNED)


def test_another_tenants_drill_is_404(tenant: Tenant, officer: User) -> None:
    drill = _plan(tenant, officer)
    stranger = UserFactory(tenant=TenantFactory(), roles=[Role.PRIVACY_OFFICER])
    client = _client(stranger)
    assert (
        client.get(reverse("admin:training_drill_change", args=[drill.pk])).status_code,
        client.post(reverse("admin:training_drill_run", args=[drill.pk])).status_code,
        client.post(
            reverse("admin:training_drill_close", args=[drill.pk]),
            {"outcome": "cancelled"},
        ).status_code,
        _reload(drill).state,
    ) == (404, 404, 404, DrillState.PLANNED)


# --- a double click (row locks need PostgreSQL) ---------------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_two_concurrent_runs_open_one_case() -> None:
    tenant = TenantFactory()
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    supervisor = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    drill = _plan(tenant, officer)
    barrier, outcomes = threading.Barrier(2), []

    def attempt(actor: User) -> None:
        try:
            barrier.wait()
            run_drill(drill=drill, actor=actor)
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(a,)) for a in (officer, supervisor)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with tenant_scope(tenant):
        cases = IncidentCase.objects.count()
    assert (sorted(outcomes), cases, len(_events(tenant, "training.drill_run"))) == (
        ["conflict", "ok"],
        1,
        1,
    )
