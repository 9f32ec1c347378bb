"""Courses: versions, the starter content, quiz scoring and shuffling."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from audits.models import AuditEvent
from core.errors import Conflict
from tenants.actors import SystemActor
from tenants.models import Role, Tenant
from tenants.scoping import tenant_scope
from tenants.services import create_tenant
from tests.factories import UserFactory
from tests.training.conftest import SYSTEM
from training import courses
from training.models import Course, CourseVersion, QuizAttempt, StaffPledge
from training.starter import ALL_STAFF, KITCHEN_PACKING, RIDERS

pytestmark = pytest.mark.django_db(databases="__all__")


def _course(tenant: Tenant, code: str) -> Course:
    with tenant_scope(tenant):
        return Course.objects.get(code=code)


def _correct(version: CourseVersion) -> dict[str, list[str]]:
    return {
        qid: [o["id"] for o in q["options"] if o["correct"]]
        for qid, q in version.questions().items()
    }


def _wrong(version: CourseVersion) -> dict[str, list[str]]:
    return {
        qid: [next(o["id"] for o in q["options"] if not o["correct"])]
        for qid, q in version.questions().items()
    }


def test_a_new_tenant_gets_the_starter_courses_and_pledge() -> None:
    tenant = create_tenant(slug="fresh", name="Fresh", actor=SystemActor("tests"))
    with tenant_scope(tenant):
        codes = set(Course.objects.values_list("code", flat=True))
        versions = CourseVersion.objects.count()
        pledges = StaffPledge.objects.count()
        published = AuditEvent.objects.filter(action="training.course_published").count()
    assert codes == {ALL_STAFF["code"], RIDERS["code"], KITCHEN_PACKING["code"]}
    assert (versions, pledges, published) == (3, 1, 3)


@pytest.mark.parametrize("spec", [ALL_STAFF, RIDERS, KITCHEN_PACKING])
def test_starter_courses_have_4_to_6_questions_in_both_languages(spec: dict[str, Any]) -> None:
    questions = spec["questions"]
    assert 4 <= len(questions) <= 6
    assert any(q["multiple"] for q in questions)
    assert all(q["text_zh"] and q["text_en"] for q in questions)


def test_the_starter_seeder_is_idempotent(tenant: Tenant) -> None:
    from training.starter import seed_training

    assert seed_training(tenant, SYSTEM) is None
    with tenant_scope(tenant):
        assert CourseVersion.objects.count() == 3


def test_versions_are_numbered_per_course(tenant: Tenant) -> None:
    course = _course(tenant, RIDERS["code"])
    v1 = courses.current_course_version(course)
    assert v1 is not None
    v2 = courses.publish_course_version(
        course=course,
        actor=SYSTEM,
        title_zh=v1.title_zh,
        title_en=v1.title_en,
        content=v1.content,
        pass_mark=60,
    )
    other = courses.current_course_version(_course(tenant, ALL_STAFF["code"]))
    assert (v1.version, v2.version, other.version if other else None) == (1, 2, 1)
    assert courses.current_course_version(course) == v2


def test_only_a_tenant_administrator_publishes(tenant: Tenant) -> None:
    course = _course(tenant, RIDERS["code"])
    v1 = courses.current_course_version(course)
    assert v1 is not None
    for user in (
        UserFactory(tenant=tenant, roles=[Role.SUPERVISOR]),
        UserFactory(roles=[Role.TENANT_ADMIN]),  # another tenant's
    ):
        with pytest.raises(PermissionDenied):
            courses.publish_course_version(
                course=course, actor=user, title_zh="x", title_en="x", content=v1.content
            )


@pytest.mark.parametrize(
    "content",
    [
        {"lessons": [], "questions": []},
        {
            "lessons": [{"title_zh": "a", "title_en": "a", "body_zh": "b", "body_en": "b"}],
            "questions": [
                {
                    "id": "q",
                    "text_zh": "?",
                    "text_en": "?",
                    "options": [
                        {"id": "a", "text_zh": "a", "text_en": "a", "correct": True},
                        {"id": "b", "text_zh": "b", "text_en": "b", "correct": True},
                    ],
                }
            ],
        },
    ],
)
def test_incomplete_content_is_refused(tenant: Tenant, content: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        courses.publish_course_version(
            course=_course(tenant, RIDERS["code"]),
            actor=SYSTEM,
            title_zh="x",
            title_en="x",
            content=content,
        )


@pytest.fixture
def rider_course(tenant: Tenant) -> Iterator[CourseVersion]:
    version = courses.current_course_version(_course(tenant, RIDERS["code"]))
    assert version is not None
    yield version


def test_all_right_passes_and_all_wrong_fails(tenant: Tenant, rider_course: CourseVersion) -> None:
    user = UserFactory(tenant=tenant, roles=[Role.RIDER])
    first = courses.start_attempt(user=user, version=rider_course)
    failed = courses.submit_attempt(user=user, attempt_id=first.pk, answers=_wrong(rider_course))
    second = courses.start_attempt(user=user, version=rider_course)
    passed = courses.submit_attempt(user=user, attempt_id=second.pk, answers=_correct(rider_course))
    assert (failed.passed, failed.score, passed.passed, passed.score) == (False, 0, True, 5)
    with tenant_scope(tenant):
        events = list(
            AuditEvent.objects.filter(action__startswith="training.attempt_").order_by("sequence")
        )
    assert [e.action for e in events] == [
        "training.attempt_started",
        "training.attempt_submitted",
        "training.attempt_started",
        "training.attempt_submitted",
    ]
    assert events[-1].details["passed"] is True


def test_a_multiple_choice_question_needs_exactly_its_correct_options(
    rider_course: CourseVersion,
) -> None:
    answers = _correct(rider_course)
    multiple = next(qid for qid, q in rider_course.questions().items() if q["multiple"])
    partial = {**answers, multiple: answers[multiple][:1]}
    assert courses.score(rider_course, answers)[multiple] is True
    assert courses.score(rider_course, partial)[multiple] is False


def test_the_pass_mark_counts(tenant: Tenant, rider_course: CourseVersion) -> None:
    # 4 of 5 right is 80%: the starter's pass mark; 3 of 5 is not.
    user = UserFactory(tenant=tenant, roles=[Role.RIDER])
    answers, wrong = _correct(rider_course), _wrong(rider_course)
    ids = sorted(answers)
    results = []
    for n_wrong in (1, 2):
        attempt = courses.start_attempt(user=user, version=rider_course)
        mixed = {q: (wrong[q] if q in ids[:n_wrong] else answers[q]) for q in ids}
        results.append(courses.submit_attempt(user=user, attempt_id=attempt.pk, answers=mixed))
    assert [(a.score, a.passed) for a in results] == [(4, True), (3, False)]


def test_attempts_shuffle_questions_and_options(
    tenant: Tenant, rider_course: CourseVersion
) -> None:
    user = UserFactory(tenant=tenant, roles=[Role.RIDER])
    orders = {str(courses.start_attempt(user=user, version=rider_course).shown) for _ in range(12)}
    assert len(orders) > 1
    attempt = courses.start_attempt(user=user, version=rider_course)
    assert sorted(q for q, _o in attempt.shown) == sorted(rider_course.questions())


def test_an_attempt_is_submitted_once_and_only_on_the_current_version(
    tenant: Tenant, rider_course: CourseVersion
) -> None:
    user = UserFactory(tenant=tenant, roles=[Role.RIDER])
    attempt = courses.start_attempt(user=user, version=rider_course)
    courses.submit_attempt(user=user, attempt_id=attempt.pk, answers={})
    with pytest.raises(Conflict):
        courses.submit_attempt(user=user, attempt_id=attempt.pk, answers={})
    stale = courses.start_attempt(user=user, version=rider_course)
    courses.publish_course_version(
        course=rider_course.course,
        actor=SYSTEM,
        title_zh="新",
        title_en="New",
        content=rider_course.content,
    )
    with pytest.raises(Conflict):
        courses.submit_attempt(user=user, attempt_id=stale.pk, answers={})


def test_answers_not_shown_are_refused(tenant: Tenant, rider_course: CourseVersion) -> None:
    user = UserFactory(tenant=tenant, roles=[Role.RIDER])
    attempt = courses.start_attempt(user=user, version=rider_course)
    with pytest.raises(ValidationError):
        courses.submit_attempt(user=user, attempt_id=attempt.pk, answers={"r1": ["zz"]})
    single = next(qid for qid, q in rider_course.questions().items() if not q["multiple"])
    options = [o["id"] for o in rider_course.questions()[single]["options"]]
    with pytest.raises(ValidationError):
        courses.submit_attempt(user=user, attempt_id=attempt.pk, answers={single: options[:2]})
    with tenant_scope(tenant):
        assert QuizAttempt.objects.get(pk=attempt.pk).submitted_at is None


def test_another_users_attempt_is_not_found(tenant: Tenant, rider_course: CourseVersion) -> None:
    user = UserFactory(tenant=tenant, roles=[Role.RIDER])
    other = UserFactory(tenant=tenant, roles=[Role.RIDER])
    attempt = courses.start_attempt(user=user, version=rider_course)
    with pytest.raises(QuizAttempt.DoesNotExist):
        courses.submit_attempt(user=other, attempt_id=attempt.pk, answers={})
