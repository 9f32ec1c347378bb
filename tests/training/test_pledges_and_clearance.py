"""The staff pledge (hash, time, IP; a new version asks again) and ``status_of``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audits.models import AuditEvent
from core.errors import Conflict
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tenants.versioning import text_sha256
from tests.factories import UserFactory
from tests.training.conftest import SYSTEM
from training import courses
from training.clearance import PLEDGE, State, add_months, status_of
from training.courses import correct_answers
from training.models import Course, CourseVersion, PledgeSignature, QuizAttempt
from training.pledges import pledge_to_sign, publish_pledge, sign_pledge
from training.starter import ALL_STAFF, PLEDGE_EN, RIDERS

pytestmark = pytest.mark.django_db(databases="__all__")


def _version(tenant: Tenant, code: str) -> CourseVersion:
    with tenant_scope(tenant):
        course = Course.objects.get(code=code)
    version = courses.current_course_version(course)
    assert version is not None
    version.course = course  # followed outside the scope below
    return version


def _pass(user: User, version: CourseVersion) -> QuizAttempt:
    answers = correct_answers(version)
    attempt = courses.start_attempt(user=user, version=version)
    return courses.submit_attempt(user=user, attempt_id=attempt.pk, answers=answers)


def test_the_pledge_is_signed_after_the_induction_course(tenant: Tenant) -> None:
    user = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    with pytest.raises(PermissionDenied):
        sign_pledge(user=user, version=1, language="en", ip="10.0.0.1")
    _pass(user, _version(tenant, ALL_STAFF["code"]))
    signature = sign_pledge(user=user, version=1, language="en", ip="10.0.0.1")
    assert (signature.language, signature.text_sha256, str(signature.ip)) == (
        "en",
        text_sha256(PLEDGE_EN),
        "10.0.0.1",
    )
    assert pledge_to_sign(user) is None
    with tenant_scope(tenant):
        event = AuditEvent.objects.get(action="training.pledge_signed")
    assert event.details == {"version": 1, "language": "en"}


def test_a_new_pledge_version_asks_for_a_new_signature(tenant: Tenant) -> None:
    user = UserFactory(tenant=tenant, roles=[Role.PACKER])
    _pass(user, _version(tenant, ALL_STAFF["code"]))
    sign_pledge(user=user, version=1, language="zh-hans", ip=None)
    v2 = publish_pledge(tenant=tenant, actor=SYSTEM, text_zh="新承诺", text_en="New pledge")
    assert pledge_to_sign(user) == v2
    state = status_of([user], PLEDGE, tenant=tenant)[user.pk]
    assert (state.state, state.due_at) == (State.EXPIRED, v2.published_at)
    with pytest.raises(Conflict):
        sign_pledge(user=user, version=1, language="zh-hans", ip=None)
    signature = sign_pledge(user=user, version=2, language="zh-hans", ip=None)
    assert signature.text_sha256 == text_sha256("新承诺")
    assert status_of([user], PLEDGE, tenant=tenant)[user.pk].state == State.CURRENT
    with tenant_scope(tenant):
        assert PledgeSignature.objects.filter(user=user).count() == 2


def test_riders_sign_the_agreement_not_the_pledge(tenant: Tenant) -> None:
    rider = UserFactory(tenant=tenant, roles=[Role.RIDER])
    assert pledge_to_sign(rider) is None
    with pytest.raises(PermissionDenied):
        sign_pledge(user=rider, version=1, language="en", ip=None)


def test_status_of_current_missing_and_a_new_version(tenant: Tenant) -> None:
    version = _version(tenant, RIDERS["code"])
    passed, failed, never = (UserFactory(tenant=tenant, roles=[Role.RIDER]) for _ in range(3))
    _pass(passed, version)
    attempt = courses.start_attempt(user=failed, version=version)
    courses.submit_attempt(user=failed, attempt_id=attempt.pk, answers={})
    states = status_of([passed, failed, never], version.course)
    assert {pk: c.state for pk, c in states.items()} == {
        passed.pk: State.CURRENT,
        failed.pk: State.MISSING,
        never.pk: State.MISSING,
    }
    v2 = courses.publish_course_version(
        course=version.course,
        actor=SYSTEM,
        title_zh="新",
        title_en="New",
        content=version.content,
    )
    after = status_of([passed], RIDERS["code"], tenant=tenant)[passed.pk]
    assert (after.state, after.due_at) == (State.EXPIRED, v2.published_at)
    _pass(passed, v2)
    assert status_of([passed], version.course)[passed.pk].state == State.CURRENT


def test_status_of_periodic_renewal(tenant: Tenant) -> None:
    version = _version(tenant, RIDERS["code"])  # every 6 months
    user = UserFactory(tenant=tenant, roles=[Role.RIDER])
    attempt = _pass(user, version)
    assert attempt.submitted_at is not None
    due = add_months(attempt.submitted_at, 6)
    course = version.course
    assert status_of([user], course, now=due - timedelta(days=31))[user.pk].state == State.CURRENT
    soon = status_of([user], course, now=due - timedelta(days=5))[user.pk]
    assert (soon.state, soon.due_at) == (State.DUE_SOON, due)
    assert status_of([user], course, now=due)[user.pk].state == State.EXPIRED


def test_status_of_runs_a_constant_number_of_queries(tenant: Tenant) -> None:
    version = _version(tenant, RIDERS["code"])
    few = [UserFactory(tenant=tenant, roles=[Role.RIDER]) for _ in range(2)]
    many = few + [UserFactory(tenant=tenant, roles=[Role.RIDER]) for _ in range(8)]
    for user in many[::2]:
        _pass(user, version)
    counts = []
    for users in (few, many):
        for requirement in (version.course, PLEDGE):
            with CaptureQueriesContext(connection) as queries:
                status_of(users, requirement, tenant=tenant)
            counts.append(len(queries))
    assert counts[:2] == counts[2:] and max(counts) <= 2


def test_users_of_another_tenant_are_missing(tenant: Tenant) -> None:
    version = _version(tenant, RIDERS["code"])
    stranger = UserFactory(roles=[Role.RIDER])
    assert status_of([stranger], version.course)[stranger.pk].state == State.MISSING


def test_add_months_keeps_the_end_of_month() -> None:
    moment = timezone.now().replace(year=2026, month=8, day=31)
    assert (add_months(moment, 6).month, add_months(moment, 6).day) == (2, 28)
