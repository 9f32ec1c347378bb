"""Containment, continued (issue 18): a rider suspended from dispatch from a case (and the
suspension lifted from the case page), and the tenant's data key rotated from a case as a
background job with progress."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import Http404
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from core.errors import Conflict
from incidents.case_actions import (
    key_rotation_progress,
    lift_suspension,
    start_key_rotation,
)
from incidents.cases import contain, move_case, open_case
from incidents.models import CaseEvent, CaseEventKind, IncidentCase
from privacy.api import RotationProgress
from riders.eligibility import dispatch_blockers_of
from tenants.models import Role, SuspensionScope, Tenant, User, UserSuspension
from tenants.scoping import tenant_scope
from tenants.suspensions import active_suspensions, suspend
from tests.factories import DataSubjectFactory, TenantFactory, UserFactory, verified_second_factor
from tests.riders.conftest import SYSTEM, make_rider, packed_order

pytestmark = pytest.mark.django_db(databases="__all__")

SUSPENDED = "the rider is suspended from dispatch until it is lifted"


@pytest.fixture
def tenant() -> Tenant:
    return TenantFactory()


@pytest.fixture
def officer(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER], username="po-li")


def _open(tenant: Tenant, actor: Any) -> IncidentCase:
    return open_case(
        tenant=tenant,
        title="Rider shared labels",
        severity="general",
        severity_reason="A handful of labels",
        kind="insider_access",
        data_categories=["address"],
        affected_customers=3,
        discovered_at=timezone.now() - timedelta(hours=1),
        discovered_by="Supervisor",
        is_drill=False,
        actor=actor,
    )


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    verified_second_factor(client, user)
    return client


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


def _suspend(case: IncidentCase, rider: Any, actor: User, reason: str = "shared labels") -> Any:
    return contain(
        case=case, action="suspend_dispatch", target_id=rider.user_id, reason=reason, actor=actor
    )


def _events(tenant: Tenant, action: str) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(action=action))


def _page(client: Client, case: IncidentCase) -> str:
    url = reverse("admin:incidents_incidentcase_change", args=[case.pk])
    return client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()


# Suspension from dispatch.


def test_a_suspended_rider_gets_the_dispatch_409_naming_it_and_a_lifted_one_is_dispatched(
    tenant: Tenant, officer: User
) -> None:
    case = _open(tenant, officer)
    rider = make_rider(tenant)
    event = _suspend(case, rider, officer)
    refused = _assign(tenant, rider)
    with tenant_scope(tenant):
        suspension = UserSuspension.objects.get()
    lift_suspension(case=case, suspension_id=suspension.pk, actor=officer)
    accepted = _assign(tenant, rider)
    assert (
        event.action,
        event.target,
        suspension.source,
        suspension.scope,
        refused.status_code,
        refused.json()["missing"],
        accepted.status_code,
    ) == ("suspend_dispatch", f"user:{rider.user_id}", case.code, "dispatch", 409, [SUSPENDED], 200)


def test_a_time_limited_suspension_names_its_end_and_ends_by_itself(tenant: Tenant) -> None:
    rider = make_rider(tenant)
    ends = timezone.now() + timedelta(hours=2)
    suspend(
        tenant=tenant,
        user=rider.user,
        scope=SuspensionScope.DISPATCH,
        reason="sanction",
        source="S-1",
        actor=SYSTEM,
        ends_at=ends,
    )
    with tenant_scope(tenant):
        now_blockers = dispatch_blockers_of([rider])[rider.pk]
        later = active_suspensions(
            [rider.user_id], SuspensionScope.DISPATCH, now=ends + timedelta(seconds=1)
        )
    assert (
        len(now_blockers),
        now_blockers[0].startswith("the rider is suspended from dispatch until ")
        and "lifted" not in now_blockers[0],
        later,
    ) == (
        1,
        True,
        {},
    )


def test_active_suspensions_of_many_users_is_one_query(tenant: Tenant) -> None:
    riders = [make_rider(tenant) for _ in range(4)]
    for rider in riders[:2]:
        suspend(
            tenant=tenant,
            user=rider.user,
            scope=SuspensionScope.DISPATCH,
            reason="r",
            source="S-2",
            actor=SYSTEM,
        )
    with tenant_scope(tenant), CaptureQueriesContext(connection) as queries:
        held = active_suspensions([r.user_id for r in riders], SuspensionScope.DISPATCH)
        reveal = active_suspensions([r.user_id for r in riders], SuspensionScope.REVEAL)
    assert (len(queries), sorted(held), reveal) == (
        2,
        sorted(r.user_id for r in riders[:2]),
        {},
    )


def test_only_a_rider_is_suspended_from_dispatch(tenant: Tenant, officer: User) -> None:
    case = _open(tenant, officer)
    packer = UserFactory(tenant=tenant, roles=[Role.PACKER])
    with pytest.raises(ValidationError, match="Choose a rider."):
        contain(
            case=case, action="suspend_dispatch", target_id=packer.pk, reason="r", actor=officer
        )
    with tenant_scope(tenant):
        assert not UserSuspension.objects.exists()


def test_another_tenants_rider_is_not_found(tenant: Tenant, officer: User) -> None:
    case = _open(tenant, officer)
    rider = make_rider(TenantFactory())
    with pytest.raises(Http404):
        _suspend(case, rider, officer)


def test_a_rider_already_suspended_is_a_conflict(tenant: Tenant, officer: User) -> None:
    case = _open(tenant, officer)
    rider = make_rider(tenant, username="rider-wu")
    _suspend(case, rider, officer)
    with pytest.raises(Conflict, match="rider-wu is already suspended from dispatch."):
        _suspend(case, rider, officer)


def test_a_reason_is_required(tenant: Tenant, officer: User) -> None:
    case = _open(tenant, officer)
    rider = make_rider(tenant)
    with pytest.raises(ValidationError):
        _suspend(case, rider, officer, reason="  ")


@pytest.mark.parametrize("role", [Role.CUSTOMER_SERVICE, Role.DISPATCHER, Role.RIDER])
def test_only_case_managers_suspend_and_lift(tenant: Tenant, officer: User, role: Role) -> None:
    case = _open(tenant, officer)
    rider = make_rider(tenant)
    other = UserFactory(tenant=tenant, roles=[role])
    with pytest.raises(PermissionDenied):
        _suspend(case, rider, other)
    _suspend(case, rider, officer)
    with tenant_scope(tenant):
        suspension = UserSuspension.objects.get()
    with pytest.raises(PermissionDenied):
        lift_suspension(case=case, suspension_id=suspension.pk, actor=other)


def test_a_suspension_of_another_case_is_not_lifted_from_this_one(
    tenant: Tenant, officer: User
) -> None:
    first, second = _open(tenant, officer), _open(tenant, officer)
    _suspend(first, make_rider(tenant), officer)
    with tenant_scope(tenant):
        suspension = UserSuspension.objects.get()
    with pytest.raises(Http404):
        lift_suspension(case=second, suspension_id=suspension.pk, actor=officer)


def test_lifting_twice_is_a_conflict(tenant: Tenant, officer: User) -> None:
    case = _open(tenant, officer)
    _suspend(case, make_rider(tenant), officer)
    with tenant_scope(tenant):
        suspension = UserSuspension.objects.get()
    lift_suspension(case=case, suspension_id=suspension.pk, actor=officer)
    with pytest.raises(Conflict, match="no longer in force"):
        lift_suspension(case=case, suspension_id=suspension.pk, actor=officer)


def test_deactivating_a_riders_user_takes_the_rider_out_of_dispatch(
    tenant: Tenant, officer: User
) -> None:
    case = _open(tenant, officer)
    rider = make_rider(tenant)
    contain(case=case, action="deactivate_user", target_id=rider.user_id, reason="r", actor=officer)
    response = _assign(tenant, rider)
    assert (response.status_code, response.json()["missing"]) == (
        409,
        ["the rider is deactivated"],
    )


def test_the_case_page_suspends_lifts_and_shows_both_on_the_timeline(
    tenant: Tenant, officer: User
) -> None:
    case = _open(tenant, officer)
    rider = make_rider(tenant, username="rider-zhou")
    client = _client(officer)
    contain_url = reverse("admin:incidents_incidentcase_contain", args=[case.pk])
    client.post(
        contain_url,
        {"action": "suspend_dispatch", "target": f"user-{rider.user_id}", "reason": "labels"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    suspended_page = _page(client, case)
    with tenant_scope(tenant):
        suspension = UserSuspension.objects.get()
    lift_url = reverse("admin:incidents_incidentcase_lift", args=[case.pk, suspension.pk])
    response = client.post(lift_url, HTTP_ACCEPT_LANGUAGE="en")
    page = _page(client, case)
    assert (
        "Suspend a rider from dispatch: rider-zhou" in suspended_page,
        f'id="lift-{suspension.pk}"' in suspended_page,
        response.status_code,
        "Suspension from dispatch lifted: rider-zhou" in page,
        f'id="lift-{suspension.pk}"' in page,
        len(_events(tenant, "incidents.suspension_lifted")),
        _events(tenant, "incidents.suspension_lifted")[0].details["target"],
    ) == (True, True, 302, True, False, 1, f"user:{rider.user_id}")


def test_another_tenants_manager_gets_404_on_the_lift(tenant: Tenant, officer: User) -> None:
    case = _open(tenant, officer)
    _suspend(case, make_rider(tenant), officer)
    with tenant_scope(tenant):
        suspension = UserSuspension.objects.get()
    client = _client(UserFactory(tenant=TenantFactory(), roles=[Role.TENANT_ADMIN]))
    url = reverse("admin:incidents_incidentcase_lift", args=[case.pk, suspension.pk])
    response = client.post(url)
    with tenant_scope(tenant):
        lifted = UserSuspension.objects.get().lifted_at
    assert (response.status_code, lifted) == (404, None)


# Rotating the tenant's data key.


def test_a_second_rotation_while_one_runs_is_a_conflict_naming_it(
    tenant: Tenant, officer: User
) -> None:
    case = _open(tenant, officer)
    DataSubjectFactory(tenant=tenant)
    version = start_key_rotation(case=case, reason="insider copied keys?", actor=officer)
    with pytest.raises(Conflict, match="key to version 2 is under way"):
        start_key_rotation(case=case, reason="again", actor=officer)
    progress = key_rotation_progress(case)
    with tenant_scope(tenant):
        started = CaseEvent.objects.get(case=case, kind=CaseEventKind.ROTATION_STARTED)
    assert (version, progress, started.count, started.note) == (
        2,
        RotationProgress(2, 0, 1, False),
        2,
        "insider copied keys?",
    )


def test_rotation_refused_without_a_reason_on_a_closed_case_and_to_others(
    tenant: Tenant, officer: User
) -> None:
    case = _open(tenant, officer)
    with pytest.raises(ValidationError):
        start_key_rotation(case=case, reason="", actor=officer)
    with pytest.raises(PermissionDenied):
        start_key_rotation(
            case=case, reason="r", actor=UserFactory(tenant=tenant, roles=[Role.DISPATCHER])
        )
    for state in ("investigating", "remediated", "closed"):
        move_case(case=case, to=state, actor=officer)
    with pytest.raises(Conflict, match="closed"):
        start_key_rotation(case=case, reason="r", actor=officer)
    assert key_rotation_progress(case) is None


def test_the_case_page_starts_the_rotation_and_shows_its_progress(
    tenant: Tenant, officer: User
) -> None:
    case = _open(tenant, officer)
    for _ in range(3):
        DataSubjectFactory(tenant=tenant)
    client = _client(officer)
    url = reverse("admin:incidents_incidentcase_rotate_key", args=[case.pk])
    blank = client.post(url, {"reason": ""}, HTTP_ACCEPT_LANGUAGE="en")
    no_start = key_rotation_progress(case)
    response = client.post(url, {"reason": "keys may be out"}, HTTP_ACCEPT_LANGUAGE="en")
    again = client.post(url, {"reason": "again"}, HTTP_ACCEPT_LANGUAGE="en")
    page = _page(client, case)
    assert (
        blank.status_code,
        no_start,
        response.status_code,
        again.status_code,
        "Running: 0 of 3 customers&#x27; keys moved to key version 2." in page
        or "Running: 0 of 3 customers' keys moved to key version 2." in page,
        "key to version 2 is under way" in page,
        "Tenant key rotation started (to version 2)" in page,
    ) == (302, None, 302, 302, True, True, True)


def test_another_tenants_manager_cannot_start_a_rotation(tenant: Tenant, officer: User) -> None:
    case = _open(tenant, officer)
    client = _client(UserFactory(tenant=TenantFactory(), roles=[Role.TENANT_ADMIN]))
    url = reverse("admin:incidents_incidentcase_rotate_key", args=[case.pk])
    assert (client.post(url, {"reason": "r"}).status_code, key_rotation_progress(case)) == (
        404,
        None,
    )


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_rotation_from_a_case_runs_on_a_real_worker_and_its_end_is_on_the_timeline(
    worker: str,
) -> None:
    tenant = TenantFactory()
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    case = _open(tenant, officer)
    for _ in range(5):
        DataSubjectFactory(tenant=tenant)
    seen = []
    start_key_rotation(case=case, reason="rotate", actor=officer, queue=worker)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        progress = key_rotation_progress(case)
        assert progress is not None
        seen.append(progress.done)
        with tenant_scope(tenant):
            done = CaseEvent.objects.filter(case=case, kind=CaseEventKind.ROTATION_DONE).exists()
        if progress.finished and done:
            break
        time.sleep(0.1)
    with tenant_scope(tenant):
        kinds = list(CaseEvent.objects.filter(case=case).values_list("kind", flat=True))
    assert (
        key_rotation_progress(case),
        kinds,
        len(_events(tenant, "incidents.key_rotation_done")),
    ) == (
        RotationProgress(2, 5, 5, True),
        ["opened", "rotation_started", "rotation_done"],
        1,
    )
