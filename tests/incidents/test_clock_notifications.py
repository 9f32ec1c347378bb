"""Legal clocks notify (issue 18, point 2): an escalated clock and an overdue one each tell
the case's owner and the tenant's privacy officers once, with a link to the case, however
often the check runs; a drill's say so."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from incidents import clocks
from incidents.cases import open_case
from incidents.models import IncidentCase
from incidents.staff_notifications import CLOCK_ESCALATED, CLOCK_OVERDUE
from tenants.models import Notification, Role, Tenant, User
from tenants.notifications import message_of
from tenants.scoping import tenant_scope
from tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def tenant() -> Tenant:
    return TenantFactory()


@pytest.fixture
def owner(tenant: Tenant) -> User:
    # A supervisor opens the case: the owner, not a privacy officer.
    return UserFactory(tenant=tenant, roles=[Role.SUPERVISOR], username="sup-chen")


@pytest.fixture
def officers(tenant: Tenant) -> list[User]:
    return [UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER]) for _ in range(2)]


def _open(tenant: Tenant, actor: Any, **overrides: Any) -> IncidentCase:
    values: dict[str, Any] = {
        "title": "Courier's phone lost on route 3",
        "severity": "major",
        "severity_reason": "Labels of 40 orders visible",
        "kind": "lost_device",
        "data_categories": ["address"],
        "affected_customers": 40,
        "discovered_at": timezone.now() - timedelta(minutes=30),
        "discovered_by": "Dispatcher on duty",
        "is_drill": False,
    }
    values.update(overrides)
    return open_case(tenant=tenant, actor=actor, **values)


def _told(tenant: Tenant, kind: str) -> list[tuple[int, str]]:
    with tenant_scope(tenant):
        return sorted(Notification.objects.filter(kind=kind).values_list("user_id", "link"))


def test_escalation_then_overdue_notify_owner_and_officers_once_each(
    tenant: Tenant, owner: User, officers: list[User]
) -> None:
    bystander = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    other_tenant = TenantFactory()
    elsewhere = UserFactory(tenant=other_tenant, roles=[Role.PRIVACY_OFFICER])
    case = _open(tenant, owner)
    discovered = case.discovered_at
    link = reverse("admin:incidents_incidentcase_change", args=[case.pk])
    everyone = sorted([(owner.pk, link), *((o.pk, link) for o in officers)])

    assert clocks.check_tenant_clocks(tenant, now=discovered + timedelta(hours=2)) == (0, 0)
    assert _told(tenant, CLOCK_ESCALATED) == []

    at = discovered + timedelta(hours=3, minutes=1)  # 4 h clock: escalated in its last hour
    assert clocks.check_tenant_clocks(tenant, now=at) == (1, 0)
    clocks.check_tenant_clocks(tenant, now=at + timedelta(minutes=5))  # the beat again
    assert (_told(tenant, CLOCK_ESCALATED), _told(tenant, CLOCK_OVERDUE)) == (everyone, [])

    late = discovered + timedelta(hours=4, minutes=1)
    assert clocks.check_tenant_clocks(tenant, now=late) == (0, 1)
    assert clocks.check_tenant_clocks(tenant, now=late) == (0, 0)
    assert (_told(tenant, CLOCK_ESCALATED), _told(tenant, CLOCK_OVERDUE)) == (everyone, everyone)
    assert bystander.pk not in [u for u, _l in _told(tenant, CLOCK_OVERDUE)]
    assert elsewhere.pk not in [u for u, _l in _told(tenant, CLOCK_OVERDUE)]
    assert _told(other_tenant, CLOCK_OVERDUE) == []


def test_even_if_the_flags_were_cleared_the_dedup_key_notifies_once(
    tenant: Tenant, owner: User, officers: list[User]
) -> None:
    from incidents.models import CaseReport

    case = _open(tenant, owner)
    late = case.discovered_at + timedelta(hours=5)
    clocks.check_tenant_clocks(tenant, now=late)
    with tenant_scope(tenant):
        CaseReport.objects.filter(case=case).update(escalated_at=None, overdue_at=None)
    clocks.check_tenant_clocks(tenant, now=late)  # a job run twice over the same rows
    assert len(_told(tenant, CLOCK_ESCALATED)) == len(_told(tenant, CLOCK_OVERDUE)) == 3


def test_an_owner_who_is_an_officer_is_told_once(tenant: Tenant, officers: list[User]) -> None:
    case = _open(tenant, officers[0])
    clocks.check_tenant_clocks(tenant, now=case.discovered_at + timedelta(hours=5))
    assert sorted(u for u, _l in _told(tenant, CLOCK_OVERDUE)) == sorted(o.pk for o in officers)


def test_a_drills_notification_says_so_and_reads_in_the_inbox(
    client: Client, tenant: Tenant, owner: User
) -> None:
    case = _open(tenant, owner, is_drill=True)
    clocks.check_tenant_clocks(tenant, now=case.discovered_at + timedelta(hours=5))
    with tenant_scope(tenant):
        overdue = Notification.objects.get(kind=CLOCK_OVERDUE, user=owner)
    assert message_of(overdue) == f"Report overdue on {case.code} (drill): Report to the authority"
    client.force_login(owner)
    html = client.get(
        reverse("admin:tenants_notification_changelist"), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert f"Report clock running out on {case.code} (drill)" in html
    response = client.post(reverse("admin:tenants_notification_open", args=[overdue.pk]))
    assert response["Location"] == reverse("admin:incidents_incidentcase_change", args=[case.pk])
