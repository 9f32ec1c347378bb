from __future__ import annotations

import pytest

from tenants.actors import SystemActor
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.factories import TenantFactory, UserFactory
from training import courses
from training.courses import correct_answers
from training.models import Course, CourseVersion, PledgeSignature, QuizAttempt
from training.pledges import pledge_to_sign, sign_pledge
from training.starter import ALL_STAFF, seed_training

SYSTEM = SystemActor("tests")


@pytest.fixture
def tenant() -> Tenant:
    tenant = TenantFactory()
    seed_training(tenant, SYSTEM)
    return tenant


def pass_course(user: User, code: str) -> QuizAttempt:
    """``user`` passes the current version of the course ``code`` through the real
    services: an attempt started and submitted with the correct answers."""
    with tenant_scope(user.tenant_id):
        course = Course.objects.get(code=code)
    version = courses.current_course_version(course)
    assert version is not None
    answers = correct_answers(version)
    attempt = courses.start_attempt(user=user, version=version)
    return courses.submit_attempt(user=user, attempt_id=attempt.pk, answers=answers)


def sign_current_pledge(user: User) -> PledgeSignature:
    pledge = pledge_to_sign(user)
    assert pledge is not None
    return sign_pledge(user=user, version=pledge.version, language="en", ip="10.0.0.1")


def cleared_staff(tenant: Tenant, *roles: Role) -> User:
    """A staff user of ``tenant`` with ``roles`` who passed the induction course and
    signed the pledge (what the reveal gate asks of customer service)."""
    user = UserFactory(tenant=tenant, roles=list(roles))
    pass_course(user, ALL_STAFF["code"])
    sign_current_pledge(user)
    return user


def new_course_version(tenant: Tenant, code: str) -> CourseVersion:
    """Publish a new version of the course ``code`` with the current one's content (what a
    tenant admin does to make everyone retake it)."""
    with tenant_scope(tenant):
        course = Course.objects.get(code=code)
    current = courses.current_course_version(course)
    assert current is not None
    return courses.publish_course_version(
        course=course,
        actor=SYSTEM,
        title_zh=current.title_zh,
        title_en=current.title_en,
        content=current.content,
        pass_mark=current.pass_mark,
    )
