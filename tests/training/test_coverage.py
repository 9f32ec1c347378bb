"""Training coverage for supervisors (issue 19, point 7): each person's state per required
course and the pledge (current, due soon, overdue, failed, missing), the counts per role,
bounded queries whatever the number of people, and the back office's page (who may, the
filters, the links, the drills, the audit event, no other tenant's people, no customer's
data, Chinese)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, TenantFactory, UserFactory, verified_second_factor
from tests.training.conftest import SYSTEM
from training import courses
from training.clearance import add_months
from training.coverage import PLEDGE_KEY, Cell, Coverage, coverage_of
from training.drills import close_drill, plan_drill
from training.models import Course, CourseVersion, QuizAttempt
from training.pledges import sign_pledge
from training.starter import ALL_STAFF, KITCHEN_PACKING, RIDERS, seed_training

pytestmark = pytest.mark.django_db(databases="__all__")

BASICS, RIDER_COURSE, KITCHEN_COURSE = ALL_STAFF["code"], RIDERS["code"], KITCHEN_PACKING["code"]
VIEWERS = [Role.SUPERVISOR, Role.PRIVACY_OFFICER, Role.TENANT_ADMIN]
OTHERS = [r for r in Role if r not in VIEWERS]


def _version(tenant: Tenant, code: str) -> CourseVersion:
    with tenant_scope(tenant):
        course = Course.objects.get(code=code)
    version = courses.current_course_version(course)
    assert version is not None
    version.course = course
    return version


def _answers(version: CourseVersion, *, right: bool) -> dict[str, list[str]]:
    if right:
        return {
            qid: [o["id"] for o in q["options"] if o["correct"]]
            for qid, q in version.questions().items()
        }
    return {
        qid: [next(o["id"] for o in q["options"] if not o["correct"])]
        for qid, q in version.questions().items()
    }


def _take(user: User, tenant: Tenant, code: str, *, right: bool) -> QuizAttempt:
    version = _version(tenant, code)
    attempt = courses.start_attempt(user=user, version=version)
    return courses.submit_attempt(
        user=user, attempt_id=attempt.pk, answers=_answers(version, right=right)
    )


def _cells(tenant: Tenant, user: User, **kwargs: Any) -> dict[str, Cell]:
    found = coverage_of(tenant, language="en", **kwargs)
    return next(p for p in found.people if p.user_id == user.pk).cells


# --- the states ------------------------------------------------------------------------------


def test_a_new_person_misses_every_requirement_of_their_roles(tenant: Tenant) -> None:
    cook = UserFactory(tenant=tenant, roles=[Role.KITCHEN])
    rider = UserFactory(tenant=tenant, roles=[Role.RIDER])
    assert (_cells(tenant, cook), _cells(tenant, rider)) == (
        {
            BASICS: Cell(Coverage.MISSING),
            KITCHEN_COURSE: Cell(Coverage.MISSING),
            PLEDGE_KEY: Cell(Coverage.MISSING),
        },
        {RIDER_COURSE: Cell(Coverage.MISSING)},
    )


def test_a_pass_is_current_then_due_soon_then_overdue(tenant: Tenant) -> None:
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    passed = _take(agent, tenant, BASICS, right=True)
    assert passed.submitted_at is not None
    due = add_months(passed.submitted_at, 12)
    states = [
        _cells(tenant, agent, now=moment)[BASICS]
        for moment in (timezone.now(), due - timedelta(days=10), due + timedelta(days=1))
    ]
    assert states == [
        Cell(Coverage.CURRENT, passed.submitted_at),
        Cell(Coverage.DUE_SOON, due),
        Cell(Coverage.OVERDUE, due),
    ]


def test_a_failed_last_attempt_without_a_current_pass_is_failed(tenant: Tenant) -> None:
    rider = UserFactory(tenant=tenant, roles=[Role.RIDER])
    failed = _take(rider, tenant, RIDER_COURSE, right=False)
    assert _cells(tenant, rider)[RIDER_COURSE] == Cell(Coverage.FAILED, failed.submitted_at)


def test_a_failed_attempt_after_a_current_pass_stays_current(tenant: Tenant) -> None:
    rider = UserFactory(tenant=tenant, roles=[Role.RIDER])
    passed = _take(rider, tenant, RIDER_COURSE, right=True)
    _take(rider, tenant, RIDER_COURSE, right=False)
    assert _cells(tenant, rider)[RIDER_COURSE] == Cell(Coverage.CURRENT, passed.submitted_at)


def test_a_failed_retake_of_an_expired_pass_is_failed(tenant: Tenant) -> None:
    rider = UserFactory(tenant=tenant, roles=[Role.RIDER])
    _take(rider, tenant, RIDER_COURSE, right=True)
    failed = _take(rider, tenant, RIDER_COURSE, right=False)
    later = timezone.now() + timedelta(days=200)  # the rider course lasts 6 months
    assert _cells(tenant, rider, now=later)[RIDER_COURSE] == Cell(
        Coverage.FAILED, failed.submitted_at
    )


def test_a_signed_pledge_is_current(tenant: Tenant) -> None:
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    _take(agent, tenant, BASICS, right=True)
    signature = sign_pledge(user=agent, version=1, language="en", ip=None)
    assert _cells(tenant, agent)[PLEDGE_KEY] == Cell(Coverage.CURRENT, signature.signed_at)


def test_the_counts_per_role_take_each_persons_worst_state(tenant: Tenant) -> None:
    good = UserFactory(tenant=tenant, roles=[Role.RIDER])
    _take(good, tenant, RIDER_COURSE, right=True)
    bad = UserFactory(tenant=tenant, roles=[Role.RIDER, Role.PACKER])
    _take(bad, tenant, RIDER_COURSE, right=False)
    UserFactory(tenant=tenant, roles=[Role.RIDER])
    rows = {row.role: row for row in coverage_of(tenant).roles}
    assert (
        rows["rider"].people,
        dict(rows["rider"].counts),
        rows["packer"].counts[Coverage.MISSING],
        set(rows),
    ) == (
        3,
        {
            Coverage.CURRENT: 1,
            Coverage.DUE_SOON: 0,
            Coverage.OVERDUE: 0,
            Coverage.FAILED: 1,
            Coverage.MISSING: 1,
        },
        1,
        {"rider", "packer"},
    )


def test_another_tenants_people_and_inactive_users_are_not_counted(tenant: Tenant) -> None:
    UserFactory(tenant=tenant, roles=[Role.RIDER], username="ours")
    gone = UserFactory(tenant=tenant, roles=[Role.RIDER], username="gone")
    gone.is_active = False
    gone.save(update_fields=["is_active"])
    UserFactory(tenant=TenantFactory(), roles=[Role.RIDER], username="theirs")
    assert [p.username for p in coverage_of(tenant).people] == ["ours"]


@pytest.mark.parametrize("n", [3, 30])
def test_coverage_takes_a_bounded_number_of_queries(
    tenant: Tenant, n: int, django_assert_max_num_queries: Any
) -> None:
    for i in range(n):
        user = UserFactory(
            tenant=tenant, roles=[[Role.RIDER, Role.KITCHEN, Role.DISPATCHER][i % 3]]
        )
        if i % 2:
            _take(user, tenant, BASICS if i % 3 else RIDER_COURSE, right=bool(i % 4))
    # people, courses, titles, failures, "a pledge?", then two per course and the pledge:
    # 5 + 2 * 4 with the three starter courses, whether 3 people or 30.
    with django_assert_max_num_queries(13):
        found = coverage_of(tenant)
    assert len(found.people) == n


# --- the page -------------------------------------------------------------------------------


def _listed(page: str, username: str) -> bool:
    return f'<th scope="row" class="baomi-coverage-user">{username}</th>' in page


def _client(user: User, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    verified_second_factor(client, user)
    return client


URL = "/training/coverage/"


def test_the_url_is_trainings_coverage() -> None:
    assert reverse("training:coverage") == URL


@pytest.mark.parametrize("role", VIEWERS)
def test_viewers_see_the_page_audited(tenant: Tenant, role: Role) -> None:
    viewer = UserFactory(tenant=tenant, roles=[role], username="boss")
    UserFactory(tenant=tenant, roles=[Role.RIDER], username="rider-ma")
    response = _client(viewer).get(URL, {"role": "rider", "state": "missing"})
    page = response.content.decode()
    with tenant_scope(tenant):
        event = AuditEvent.objects.get(action="training.coverage_viewed")
    assert (
        response.status_code,
        _listed(page, "rider-ma"),
        'id="coverage-roles"' in page,
        event.details,
        event.actor,
    ) == (
        200,
        True,
        True,
        {"role": "rider", "state": "missing", "course": "", "people": 1},
        f"user:{viewer.pk}",
    )


@pytest.mark.parametrize("role", OTHERS)
def test_other_roles_are_refused_and_nothing_is_audited(tenant: Tenant, role: Role) -> None:
    user = UserFactory(tenant=tenant, roles=[role])
    response = _client(user).get(URL)
    with tenant_scope(tenant):
        events = AuditEvent.objects.filter(action="training.coverage_viewed").count()
    # A rider is no back-office user: the admin's login takes them elsewhere.
    assert (response.status_code in (302, 403), events) == (True, 0)


def test_the_counts_link_to_the_filtered_list(tenant: Tenant) -> None:
    viewer = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR], username="sup-wang")
    failing = UserFactory(tenant=tenant, roles=[Role.RIDER], username="rider-fail")
    _take(failing, tenant, RIDER_COURSE, right=False)
    UserFactory(tenant=tenant, roles=[Role.RIDER], username="rider-none")
    client = _client(viewer)
    page = client.get(URL).content.decode()
    link = f"{URL}?role=rider&amp;state=failed"
    listed = client.get(URL, {"role": "rider", "state": "failed"}).content.decode()
    by_course = client.get(URL, {"course": RIDER_COURSE, "state": "missing"}).content.decode()
    assert (
        f'href="{link}"' in page,
        _listed(listed, "rider-fail"),
        _listed(listed, "rider-none"),
        "1 person listed." in listed,
        _listed(by_course, "rider-none"),
        _listed(by_course, "rider-fail"),
        _listed(by_course, "sup-wang"),
    ) == (True, True, False, True, True, False, False)


def test_unknown_filters_are_ignored(tenant: Tenant) -> None:
    viewer = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    response = _client(viewer).get(URL, {"role": "emperor", "state": "<b>", "course": "no-such"})
    assert (response.status_code, "<b>" in response.content.decode()) == (200, False)


def test_the_drills_of_the_last_12_months_are_shown_and_flagged(tenant: Tenant) -> None:
    viewer = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    client = _client(viewer)
    flagged = client.get(URL).content.decode()
    drill = plan_drill(
        tenant=tenant,
        scenario="other",
        title="Tabletop",
        scheduled_for=timezone.now() - timedelta(days=2),
        participant_roles=["rider"],
        actor=viewer,
    )
    close_drill(drill=drill, outcome="held", lessons="fine", actor=viewer)
    held = client.get(URL).content.decode()
    assert (
        "No drill held in the last 12 months" in flagged,
        "1 drill held in the last 12 months." in held,
    ) == (True, True)


def test_another_tenants_people_are_absent_and_no_customer_data_is_shown(tenant: Tenant) -> None:
    viewer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    OrderFactory(tenant=tenant)  # a customer of this tenant, with a name, phone and address
    other = TenantFactory()
    seed_training(other, SYSTEM)
    UserFactory(tenant=other, roles=[Role.RIDER], username="their-rider")
    page = _client(viewer).get(URL).content.decode()
    assert [
        value in page
        for value in ("their-rider", "欧阳娜娜", "13912345678", "张江路", "宫保鸡丁", "放门口")
    ] == [False] * 6


def test_the_page_reads_in_chinese(tenant: Tenant) -> None:
    viewer = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    page = _client(viewer, "zh-hans").get(URL).content.decode()
    with tenant_scope(tenant):
        title_zh = CourseVersion.objects.filter(course__code=BASICS).get().title_zh
    assert ('lang="zh-hans"' in page, title_zh in page) == (True, True)


def test_the_sidebar_links_the_page_for_viewers_only(tenant: Tenant) -> None:
    viewer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    home = reverse("training:home")
    assert (
        f'href="{URL}"' in _client(viewer).get(home).content.decode()
        or f'href="{URL}"' in _client(viewer).get("/admin/").content.decode(),
        f'href="{URL}"' in _client(agent).get("/admin/", follow=True).content.decode(),
    ) == (True, False)


def test_the_dashboard_panel_gives_counts_and_links(tenant: Tenant) -> None:
    from django.test import RequestFactory

    from audits.panels import Period, panels_for

    viewer = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    rider = UserFactory(tenant=tenant, roles=[Role.RIDER])
    _take(rider, tenant, RIDER_COURSE, right=False)
    panel = next(p for p in panels_for(viewer) if p.key == "training.coverage")
    now = timezone.now()
    context = panel.context_for(RequestFactory().get("/"), tenant, Period(now, now))
    assert (
        context["failed"],
        context["failed_url"],
        context["overdue"],
        context["drill_flagged"],
        panel.template,
    ) == (1, f"{URL}?state=failed", 0, True, "training/panels/coverage.html")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (URL, ["Training coverage"]),
        ("/training/", ["My training"]),
        ("/admin/training/coursecasestudy/", ["Case studies"]),
    ],
)
def test_one_item_is_active_in_the_sidebar(tenant: Tenant, path: str, expected: list[str]) -> None:
    from django.contrib import admin
    from django.test import RequestFactory
    from django.utils import translation

    request = RequestFactory().get(path)
    request.user = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    with tenant_scope(tenant), translation.override("en"):
        groups = admin.site.get_sidebar_list(request)
        active = [
            str(item["title"]) for group in groups for item in group["items"] if item["active"]
        ]
    assert active == expected
