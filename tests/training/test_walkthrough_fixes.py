"""What a walk through the training pages found (issue 19): during the grace period after a
new version, the coverage, the learner's page and the enrolment all give the grace's end as
the due date (not the version's publication, not "overdue"); a change of the grace period
moves open enrolments' due dates; an empty quiz submission records nothing; a file named
as an image whose bytes are not one is said so; the warnings say what will be refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tenants.models import Role, Tenant
from tenants.scoping import tenant_scope
from tests.factories import UserFactory
from tests.training.conftest import cleared_staff, new_course_version
from tests.training.test_gates import INDUCTION
from training import courses
from training.coverage import Coverage, coverage_of
from training.enrolments import refresh_enrolments
from training.gates import reveal_gate
from training.lesson_images import upload_lesson_image
from training.models import Course, Enrolment, QuizAttempt

pytestmark = pytest.mark.django_db(databases="__all__")


def test_the_grace_period_is_due_soon_everywhere_with_its_end_as_the_date(
    tenant: Tenant, client: Client
) -> None:
    agent = cleared_staff(tenant, Role.CUSTOMER_SERVICE)
    new_course_version(tenant, INDUCTION)
    end = timezone.localtime(reveal_gate(agent).warned[0].until)
    cell = next(p for p in coverage_of(tenant).people if p.user_id == agent.pk).cells[INDUCTION]
    assert (cell.state, cell.at) == (Coverage.DUE_SOON, end)
    refresh_enrolments(tenant)
    with tenant_scope(tenant):
        enrolment = Enrolment.objects.get(user=agent, course__code=INDUCTION)
    assert enrolment.due_at == reveal_gate(agent).warned[0].until
    client.force_login(agent)
    page = client.get(reverse("training:home"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    # One due date on the page: the grace's end (the enrolment's), never the publication.
    assert page.count(end.date().isoformat()) >= 1
    assert f"due {timezone.localdate().isoformat()}" not in page


def test_a_changed_grace_period_moves_open_enrolments(tenant: Tenant) -> None:
    agent = cleared_staff(tenant, Role.CUSTOMER_SERVICE)
    published = new_course_version(tenant, INDUCTION).published_at
    refresh_enrolments(tenant)
    Tenant.objects.filter(pk=tenant.pk).update(training_grace_days=3)
    tenant.refresh_from_db()
    refresh_enrolments(tenant)
    with tenant_scope(tenant):
        enrolment = Enrolment.objects.get(user=agent, course__code=INDUCTION)
    assert enrolment.due_at == published + timedelta(days=3)


def test_an_empty_quiz_submission_records_nothing(tenant: Tenant, client: Client) -> None:
    user = UserFactory(tenant=tenant, roles=[Role.PACKER])
    with tenant_scope(tenant):
        course = Course.objects.get(code=INDUCTION)
    attempt = courses.start_attempt(user=user, version=courses.current_course_version(course))
    client.force_login(user)
    response = client.post(
        reverse("training:attempt", args=[attempt.pk]), {}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert "Answer the questions before submitting" in response.content.decode()
    with tenant_scope(tenant):
        assert QuizAttempt.objects.get(pk=attempt.pk).submitted_at is None


def test_a_file_named_as_an_image_that_is_not_one_is_said_so(tenant: Tenant) -> None:
    admin = UserFactory(tenant=tenant, roles=[Role.TENANT_ADMIN])
    with pytest.raises(ValidationError) as refused:
        upload_lesson_image(
            tenant=tenant,
            actor=admin,
            data=b"just some text, not a picture",
            name="fake.png",
            declared_type="image/png",
            alt_zh="假图片",
            alt_en="Fake picture",
        )
    assert "not a valid PNG, JPEG or WebP image" in " ".join(refused.value.messages)


def test_the_warnings_say_what_will_be_refused(tenant: Tenant) -> None:
    agent = cleared_staff(tenant, Role.CUSTOMER_SERVICE)
    new_course_version(tenant, INDUCTION)
    text = reveal_gate(agent).warning_message(what="reveal personal data")
    assert text.endswith("or you will not be able to reveal personal data.")
