"""The violations' pages (issue 20, point 4): the back office's list, record, page and
decision for supervisors; the person's own page and answer; the rider's notice and page;
404 for anyone else and for another tenant; bounded queries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent, Sanction, Violation, ViolationAnswer
from audits.services import record_event
from audits.violations.services import Decision, decide_sanction
from tenants.actors import SystemActor
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.factories import TenantFactory, UserFactory, ViolationFactory, verified_second_factor
from tests.riders.conftest import make_rider

pytestmark = pytest.mark.django_db(databases="__all__")

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def tenant() -> Tenant:
    return TenantFactory()


@pytest.fixture
def supervisor(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.SUPERVISOR], username="sup-wang")


@pytest.fixture
def agent(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE], username="cs-li")


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    verified_second_factor(client, user)
    return client


def _violation(tenant: Tenant, person: User, recorder: User, **kwargs: Any) -> Violation:
    return ViolationFactory(tenant=tenant, person=person, recorder=recorder, **kwargs)


def _list() -> str:
    return reverse("admin:audits_violation_changelist")


def _detail(violation: Violation) -> str:
    return reverse("admin:audits_violation_change", args=[violation.pk])


def _mine(violation: Violation) -> str:
    return reverse("admin:audits_violation_mine", args=[violation.pk])


# --- who sees what -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (Role.SUPERVISOR, 200),
        (Role.PRIVACY_OFFICER, 200),
        (Role.TENANT_ADMIN, 200),
        (Role.CUSTOMER_SERVICE, 404),
        (Role.DISPATCHER, 404),
        (Role.KITCHEN, 404),
        (Role.PACKER, 404),
    ],
)
def test_the_list_and_a_violations_page_are_for_supervisors_only(
    tenant: Tenant, supervisor: User, agent: User, role: Role, status: int
) -> None:
    violation = _violation(tenant, agent, supervisor)
    client = _client(UserFactory(tenant=tenant, roles=[role]))
    assert (
        client.get(_list(), **EN).status_code,
        client.get(_detail(violation), **EN).status_code,
        client.get(reverse("admin:audits_violation_decide", args=[violation.pk])).status_code,
    ) == (status, status, status)


def test_a_supervisor_of_another_tenant_gets_404_on_every_violation_url(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    violation = _violation(tenant, agent, supervisor)
    client = _client(UserFactory(tenant=TenantFactory(), roles=[Role.SUPERVISOR]))
    statuses = [
        client.get(_detail(violation)).status_code,
        client.get(reverse("admin:audits_violation_decide", args=[violation.pk])).status_code,
        client.post(reverse("admin:audits_violation_close", args=[violation.pk]), {}).status_code,
        client.post(
            reverse("admin:audits_violation_withdraw", args=[violation.pk]), {"reason": "x"}
        ).status_code,
        client.get(_mine(violation)).status_code,
    ]
    assert statuses == [404, 404, 404, 404, 404]


def test_the_person_reads_their_own_violation_but_not_someone_elses(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    own = _violation(tenant, agent, supervisor)
    other = _violation(tenant, UserFactory(tenant=tenant, roles=[Role.KITCHEN]), supervisor)
    client = _client(agent)
    page = client.get(_mine(own), **EN)
    assert (page.status_code, client.get(_mine(other)).status_code) == (200, 404)
    assert own.description in page.content.decode()


def test_a_supervisors_own_violation_is_not_in_their_list_and_its_page_is_404(
    tenant: Tenant, supervisor: User
) -> None:
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    violation = _violation(tenant, supervisor, officer)
    client = _client(supervisor)
    listed = client.get(_list(), **EN).content.decode()
    assert (
        f'data-violation="{violation.pk}"' in listed,
        client.get(_detail(violation)).status_code,
        client.get(_mine(violation)).status_code,
    ) == (False, 404, 200)


def test_a_supervisor_cannot_open_someone_elses_own_page(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    violation = _violation(tenant, agent, supervisor)
    assert _client(supervisor).get(_mine(violation)).status_code == 404


def test_the_persons_page_does_not_show_the_evidence_links_or_who_recorded_it(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    with tenant_scope(tenant):
        event = record_event(tenant=tenant, actor=SystemActor("tests"), action="tenant.created")
    violation = _violation(tenant, agent, supervisor, evidence=[("audit_event", str(event.pk))])
    html = _client(agent).get(_mine(violation), **EN).content.decode()
    assert ("1 item (Audit event)" in html, f"#{event.pk}" in html, "sup-wang" in html) == (
        True,
        False,
        False,
    )


# --- recording through the form ----------------------------------------------------------


def test_a_supervisor_records_a_violation_with_an_audit_event_through_the_form(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    with tenant_scope(tenant):
        event = record_event(tenant=tenant, actor=SystemActor("tests"), action="tenant.created")
    response = _client(supervisor).post(
        reverse("admin:audits_violation_add"),
        {
            "person": str(agent.pk),
            "clause": "2.3.1",
            "severity": "minor",
            "occurred_on": (timezone.localdate() - timedelta(days=1)).isoformat(),
            "description": "Looked up orders outside their queue.",
            "evidence_kind": "audit_event",
            "evidence": str(event.pk),
        },
        **EN,
    )
    with tenant_scope(tenant):
        violation = Violation.objects.get()
    assert (response.status_code, response.url, violation.person_id) == (
        302,
        _detail(violation),
        agent.pk,
    )


def test_the_form_refuses_an_audit_event_of_another_tenant_with_400_naming_the_field(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    other = TenantFactory()
    with tenant_scope(other):
        foreign = record_event(tenant=other, actor=SystemActor("tests"), action="tenant.created")
    response = _client(supervisor).post(
        reverse("admin:audits_violation_add"),
        {
            "person": str(agent.pk),
            "clause": "2.3.1",
            "severity": "minor",
            "occurred_on": timezone.localdate().isoformat(),
            "description": "Looked up orders outside their queue.",
            "evidence_kind": "audit_event",
            "evidence": str(foreign.pk),
        },
        **EN,
    )
    with tenant_scope(tenant):
        count = Violation.objects.count()
    assert (response.status_code, count) == (400, 0)
    assert f"Audit event {foreign.pk} not found in your tenant." in response.content.decode()


# --- deciding through the form -----------------------------------------------------------


def test_the_decision_form_refuses_a_zero_fine_with_400_and_writes_nothing(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    violation = _violation(tenant, agent, supervisor)
    response = _client(supervisor).post(
        reverse("admin:audits_violation_decide", args=[violation.pk]), {"fine": "0"}, **EN
    )
    with tenant_scope(tenant):
        count = Sanction.objects.count()
    assert (response.status_code, count, "Must be more than 0." in response.content.decode()) == (
        400,
        0,
        True,
    )


def test_the_decision_form_decides_a_warning_and_redirects_to_the_violation(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    violation = _violation(tenant, agent, supervisor)
    response = _client(supervisor).post(
        reverse("admin:audits_violation_decide", args=[violation.pk]), {"warning": "on"}, **EN
    )
    with tenant_scope(tenant):
        kinds = list(Sanction.objects.values_list("kind", flat=True))
    assert (response.status_code, response.url, kinds) == (302, _detail(violation), ["warning"])


def test_deciding_again_answers_409_naming_the_state(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    violation = _violation(tenant, agent, supervisor)
    decide_sanction(violation=violation, decision=Decision(warning=True), actor=supervisor)
    response = _client(supervisor).post(
        reverse("admin:audits_violation_decide", args=[violation.pk]), {"warning": "on"}, **EN
    )
    assert response.status_code == 409
    assert "Sanction decided" in response.content.decode()


def test_a_supervisor_deciding_a_dismissal_by_a_forged_post_gets_403(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    violation = _violation(tenant, agent, supervisor)
    response = _client(supervisor).post(
        reverse("admin:audits_violation_decide", args=[violation.pk]), {"dismissal": "on"}, **EN
    )
    agent.refresh_from_db()
    assert (response.status_code, agent.is_active) == (403, True)


# --- the person's answer in the back office ----------------------------------------------


def test_the_person_answers_on_their_page_and_a_second_answer_is_409(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    violation = _violation(tenant, agent, supervisor)
    client = _client(agent)
    first = client.post(_mine(violation), {"text": "It was a wrong number."}, **EN)
    second = client.post(_mine(violation), {"text": "Again"}, **EN)
    with tenant_scope(tenant):
        answers = list(ViolationAnswer.objects.values_list("text", flat=True))
    assert (first.status_code, first.url, second.status_code, answers) == (
        302,
        _mine(violation),
        409,
        ["It was a wrong number."],
    )


# --- the rider -----------------------------------------------------------------------------


def test_the_rider_sees_a_notice_on_their_home_and_answers_on_the_rider_page(
    tenant: Tenant, supervisor: User
) -> None:
    rider = make_rider(tenant)
    violation = _violation(tenant, rider.user, supervisor, clause="4.3.2")
    client = Client()
    client.force_login(rider.user)
    home = client.get(reverse("riders:home"), **EN).content.decode()
    url = reverse("riders:violation", args=[violation.pk])
    page = client.get(url, **EN)
    answered = client.post(url, {"text": "I only told the doorman the flat number."}, **EN)
    with tenant_scope(tenant):
        answer = ViolationAnswer.objects.get()
    assert (f'href="{url}"' in home, page.status_code, answered.status_code, answer.stage) == (
        True,
        200,
        302,
        "recorded",
    )


def test_a_rider_cannot_open_another_riders_violation(tenant: Tenant, supervisor: User) -> None:
    first, second = make_rider(tenant), make_rider(tenant)
    violation = _violation(tenant, first.user, supervisor, clause="4.3.2")
    client = Client()
    client.force_login(second.user)
    assert client.get(reverse("riders:violation", args=[violation.pk])).status_code == 404


def test_a_rider_is_not_sent_a_back_office_notification(tenant: Tenant, supervisor: User) -> None:
    rider = make_rider(tenant)
    _violation(tenant, rider.user, supervisor, clause="4.3.2")
    from tenants.models import Notification

    with tenant_scope(tenant):
        assert Notification.objects.filter(user=rider.user).count() == 0


# --- audited and bounded -------------------------------------------------------------------


@pytest.mark.parametrize("n", [3, 12])
def test_the_list_is_a_bounded_number_of_queries(
    tenant: Tenant, supervisor: User, n: int, django_assert_max_num_queries: Any
) -> None:
    for index in range(n):
        person = UserFactory(tenant=tenant, roles=[Role.KITCHEN])
        violation = _violation(tenant, person, supervisor)
        if index % 2:
            decide_sanction(violation=violation, decision=Decision(fine="50"), actor=supervisor)
    client = _client(supervisor)
    with django_assert_max_num_queries(20):
        response = client.get(_list() + "?repeat=&state=", **EN)
    assert response.content.decode().count("data-violation=") == n


def test_the_list_filters_by_sanction_kind(tenant: Tenant, supervisor: User, agent: User) -> None:
    fined = _violation(tenant, agent, supervisor)
    _violation(tenant, UserFactory(tenant=tenant, roles=[Role.KITCHEN]), supervisor)
    decide_sanction(violation=fined, decision=Decision(fine="50"), actor=supervisor)
    html = _client(supervisor).get(_list() + "?sanction=fine", **EN).content.decode()
    assert (html.count("data-violation="), f'data-violation="{fined.pk}"' in html) == (1, True)


def test_the_violation_page_shows_the_repeat_count_and_the_timeline(
    tenant: Tenant, supervisor: User, agent: User
) -> None:
    _violation(tenant, agent, supervisor)
    second = _violation(tenant, agent, supervisor)
    html = _client(supervisor).get(_detail(second), **EN).content.decode()
    assert "cs-li's violation no. 2 in the last 12 months." in html
    assert "Violation recorded · sup-wang" in html


def test_page_views_write_no_audit_events(tenant: Tenant, supervisor: User, agent: User) -> None:
    violation = _violation(tenant, agent, supervisor)
    with tenant_scope(tenant):
        before = AuditEvent.objects.count()
    _client(supervisor).get(_detail(violation))
    _client(agent).get(_mine(violation))
    with tenant_scope(tenant):
        assert AuditEvent.objects.count() == before


def test_their_violations_link_lists_only_that_persons_violations(
    tenant: Tenant, supervisor: User
) -> None:
    person = UserFactory(tenant=tenant, roles=[Role.KITCHEN], username="chef+wu@site")
    mine = _violation(tenant, person, supervisor)
    _violation(tenant, UserFactory(tenant=tenant, roles=[Role.PACKER]), supervisor)
    client = _client(supervisor)
    html = client.get(_detail(mine), **EN).content.decode()
    link = html.split('id="violation-nth"')[1].split('href="')[1].split('"')[0]
    listed = client.get(link.replace("&amp;", "&"), **EN).content.decode()
    assert (listed.count("data-violation="), f'data-violation="{mine.pk}"' in listed) == (1, True)
