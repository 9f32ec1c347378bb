"""The training pages for staff and riders: render, permissions, the quiz flow."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.factories import TenantFactory, UserFactory
from tests.training.conftest import SYSTEM
from training import courses
from training.clearance import State, status_of
from training.models import Course, PledgeSignature, QuizAttempt
from training.starter import ALL_STAFF, KITCHEN_PACKING, RIDERS, seed_training

pytestmark = pytest.mark.django_db(databases="__all__")


def _login(client: Client, tenant: Tenant, role: Role) -> User:
    user = UserFactory(tenant=tenant, roles=[role])
    client.force_login(user)
    return user


@pytest.mark.parametrize(
    ("role", "code"),
    [
        (Role.RIDER, RIDERS["code"]),
        (Role.KITCHEN, KITCHEN_PACKING["code"]),
        (Role.PACKER, ALL_STAFF["code"]),
        (Role.CUSTOMER_SERVICE, ALL_STAFF["code"]),
        (Role.TENANT_ADMIN, ALL_STAFF["code"]),
    ],
)
def test_pages_render_for_the_roles(client: Client, tenant: Tenant, role: Role, code: str) -> None:
    _login(client, tenant, role)
    home = client.get(reverse("training:home"))
    course = client.get(reverse("training:course", args=[code]))
    lesson = client.get(reverse("training:lesson", args=[code, 0]))
    assert (home.status_code, course.status_code, lesson.status_code) == (200, 200, 200)
    assert f'data-course="{code}"' in home.content.decode()
    assert home["Cache-Control"] == "no-store"


def test_the_rider_sees_the_rider_frame_and_staff_the_staff_frame(
    client: Client, tenant: Tenant
) -> None:
    _login(client, tenant, Role.RIDER)
    rider_page = client.get(reverse("training:home")).content.decode()
    assert "rider.css" in rider_page and "staff.css" not in rider_page
    client.force_login(UserFactory(tenant=tenant, roles=[Role.KITCHEN]))
    assert "staff.css" in client.get(reverse("training:home")).content.decode()


def test_a_course_of_another_role_or_tenant_is_not_found(client: Client, tenant: Tenant) -> None:
    other = TenantFactory()
    seed_training(other, SYSTEM)
    _login(client, tenant, Role.KITCHEN)
    assert client.get(reverse("training:course", args=[RIDERS["code"]])).status_code == 404
    assert client.get(reverse("training:course", args=["no-such"])).status_code == 404
    assert (
        client.get(reverse("training:lesson", args=[KITCHEN_PACKING["code"], 9])).status_code == 404
    )
    # Another tenant's attempt, by its id: 404.
    with tenant_scope(other):
        course = Course.objects.get(code=KITCHEN_PACKING["code"])
    version = courses.current_course_version(course)
    assert version is not None
    version.course = course
    stranger = UserFactory(tenant=other, roles=[Role.KITCHEN])
    attempt = courses.start_attempt(user=stranger, version=version)
    assert client.get(reverse("training:attempt", args=[attempt.pk])).status_code == 404
    assert client.post(reverse("training:attempt", args=[attempt.pk]), {}).status_code == 404


def test_anonymous_users_are_sent_to_log_in(client: Client) -> None:
    response = client.get(reverse("training:home"))
    assert response.status_code == 302 and "login" in response.url


def _read_lessons(client: Client, code: str, count: int) -> None:
    for n in range(count):
        client.post(reverse("training:lesson-read", args=[code, n]))


def test_the_quiz_starts_only_after_the_lessons_are_read(client: Client, tenant: Tenant) -> None:
    user = _login(client, tenant, Role.RIDER)
    early = client.post(reverse("training:start", args=[RIDERS["code"]]))
    assert early.url == reverse("training:lesson", args=[RIDERS["code"], 0])
    with tenant_scope(tenant):
        assert not QuizAttempt.objects.filter(user=user).exists()


def test_the_quiz_page_never_holds_the_answers(client: Client, tenant: Tenant) -> None:
    user = _login(client, tenant, Role.RIDER)
    _read_lessons(client, RIDERS["code"], len(RIDERS["lessons"]))
    start = client.post(reverse("training:start", args=[RIDERS["code"]]))
    with tenant_scope(tenant):
        attempt = QuizAttempt.objects.get(user=user)
    assert start.url == reverse("training:attempt", args=[attempt.pk])
    page = client.get(start.url).content.decode()
    assert "correct" not in page.lower()
    # Options in the attempt's own order, identified only by their ids.
    shown_ids = re.findall(r'name="q-\w+" value="(\w+)"', page)
    assert shown_ids == [oid for _q, options in attempt.shown for oid in options]


def test_a_rider_fails_then_passes_and_gets_a_certificate(client: Client, tenant: Tenant) -> None:
    user = _login(client, tenant, Role.RIDER)
    for n in range(3):
        client.post(reverse("training:lesson-read", args=[RIDERS["code"], n]))
    start = client.post(reverse("training:start", args=[RIDERS["code"]]))
    with tenant_scope(tenant):
        attempt = QuizAttempt.objects.select_related("version").get(user=user)
    version = attempt.version
    # Every question answered with a wrong option (an empty form records nothing).
    wrong = {
        f"q-{qid}": [next(o["id"] for o in q["options"] if not o["correct"])]
        for qid, q in version.questions().items()
    }
    failed = client.post(start.url, wrong, follow=True, HTTP_ACCEPT_LANGUAGE="en")
    assert 'data-passed="no"' in failed.content.decode()
    correct = {
        f"q-{qid}": [o["id"] for o in q["options"] if o["correct"]]
        for qid, q in version.questions().items()
    }
    again = client.post(reverse("training:start", args=[RIDERS["code"]]))
    passed = client.post(again.url, correct, follow=True, HTTP_ACCEPT_LANGUAGE="en")
    assert 'data-passed="yes"' in passed.content.decode()
    with tenant_scope(tenant):
        last = QuizAttempt.objects.filter(user=user, passed=True).get()
        version.course = Course.objects.get(code=RIDERS["code"])
    assert status_of([user], version.course)[user.pk].state == State.CURRENT
    certificate = client.get(reverse("training:certificate", args=[last.pk]))
    assert certificate.status_code == 200
    assert user.username in certificate.content.decode()
    assert client.get(reverse("training:certificate", args=[attempt.pk])).status_code == 404
    # Resubmitting a finished attempt changes nothing.
    assert client.post(again.url, {}).status_code == 200
    with tenant_scope(tenant):
        assert QuizAttempt.objects.get(pk=last.pk).passed is True


def test_a_bad_answer_is_a_400_not_a_500(client: Client, tenant: Tenant) -> None:
    _login(client, tenant, Role.RIDER)
    _read_lessons(client, RIDERS["code"], len(RIDERS["lessons"]))
    start = client.post(reverse("training:start", args=[RIDERS["code"]]))
    assert client.post(start.url, {"q-r1": "nope"}).status_code == 400


def test_staff_sign_the_pledge_on_its_page(client: Client, tenant: Tenant) -> None:
    user = _login(client, tenant, Role.CUSTOMER_SERVICE)
    url = reverse("training:pledge")
    assert client.get(url).status_code == 200
    before = client.post(url, {"agree": "yes", "version": "1"})
    assert before.status_code == 403  # the induction course first
    with tenant_scope(tenant):
        course = Course.objects.get(code=ALL_STAFF["code"])
    version = courses.current_course_version(course)
    assert version is not None
    version.course = course
    attempt = courses.start_attempt(user=user, version=version)
    answers = {
        qid: [o["id"] for o in q["options"] if o["correct"]]
        for qid, q in version.questions().items()
    }
    courses.submit_attempt(user=user, attempt_id=attempt.pk, answers=answers)
    assert client.post(url, {"version": "1"}).status_code == 400
    assert client.post(url, {"agree": "yes", "version": "7"}).status_code == 409
    signed = client.post(url, {"agree": "yes", "version": "1"})
    assert signed.status_code == 302
    with tenant_scope(tenant):
        signature = PledgeSignature.objects.get(user=user)
    assert str(signature.ip) == "127.0.0.1"
    assert 'id="pledge-signed"' in client.get(url).content.decode()


def test_riders_have_no_staff_pledge_page(client: Client, tenant: Tenant) -> None:
    _login(client, tenant, Role.RIDER)
    assert client.get(reverse("training:pledge")).status_code == 404


def test_my_training_is_in_the_staff_sidebar_but_not_where_a_role_lands(
    client: Client, tenant: Tenant
) -> None:
    from tenants.landing import landings_for

    kitchen = UserFactory(tenant=tenant, roles=[Role.KITCHEN])
    assert [p.url_name for p in landings_for(kitchen)] == ["orders:kitchen", "training:home"]
    client.force_login(kitchen)
    assert client.get(reverse("admin:index")).url == reverse("orders:kitchen")
    client.force_login(UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER]))
    assert reverse("training:home") in client.get(reverse("admin:index")).content.decode()


def test_the_rider_home_links_to_training(client: Client, tenant: Tenant) -> None:
    from tests.riders.conftest import make_rider

    rider = make_rider(tenant)
    client.force_login(rider.user)
    assert reverse("training:home") in client.get(reverse("riders:home")).content.decode()


def test_the_back_office_lists_training_for_administrators_and_supervisors(
    client: Client, tenant: Tenant
) -> None:
    for role in (Role.TENANT_ADMIN, Role.SUPERVISOR):
        client.force_login(UserFactory(tenant=tenant, roles=[role]))
        for model in ("course", "courseversion", "quizattempt", "staffpledge", "pledgesignature"):
            response = client.get(reverse(f"admin:training_{model}_changelist"))
            assert (role, model, response.status_code) == (role, model, 200)
    client.force_login(UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE]))
    assert client.get(reverse("admin:training_quizattempt_changelist")).status_code == 403


def test_a_tenant_administrator_publishes_a_new_pledge_in_the_back_office(
    client: Client, tenant: Tenant
) -> None:
    from training.pledges import current_pledge

    client.force_login(UserFactory(tenant=tenant, roles=[Role.TENANT_ADMIN]))
    response = client.post(
        reverse("admin:training_staffpledge_add"), {"text_zh": "第二版", "text_en": "Second"}
    )
    pledge = current_pledge(tenant)
    assert response.status_code == 302
    assert pledge is not None and (pledge.version, pledge.text_en) == (2, "Second")


def test_another_tenants_course_version_is_not_found_in_the_back_office(
    client: Client, tenant: Tenant
) -> None:
    other = TenantFactory()
    seed_training(other, SYSTEM)
    with tenant_scope(other):
        theirs = Course.objects.get(code=RIDERS["code"])
    client.force_login(UserFactory(tenant=tenant, roles=[Role.TENANT_ADMIN]))
    assert client.get(reverse("admin:training_course_change", args=[theirs.pk])).status_code == 404
