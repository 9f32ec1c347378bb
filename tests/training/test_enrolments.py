"""Enrolments, reminders and escalations (issue 19, point 5): enrolled when given a role,
when a version is published, when a pass falls due; reminded before the due date;
escalated to the tenant's administrators once per week overdue; each message once,
however often and on however many workers the job runs; and the job on a real worker with
the time moved forward."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from tenants.models import Notification, Role, ScheduledRun, Tenant, User
from tenants.scheduling import period_start
from tenants.scoping import tenant_scope
from tenants.services import grant_role, revoke_role
from tenants.tasks import clear_expired_sessions
from tests.factories import TenantFactory, UserFactory
from tests.training.conftest import SYSTEM
from training import courses
from training.clearance import add_months
from training.enrolments import enrol_for_roles, refresh_enrolments
from training.models import Course, CourseVersion, Enrolment, QuizAttempt, TrainingReminder
from training.reminders import TRAINING_DUE, TRAINING_OVERDUE, run_tenant_reminders
from training.starter import ALL_STAFF, RIDERS, seed_training
from training.tasks import send_training_reminders

pytestmark = pytest.mark.django_db(databases="__all__")

DAY = timedelta(days=1)


# --- helpers -----------------------------------------------------------------------------


def _course(tenant: Tenant, code: str) -> Course:
    with tenant_scope(tenant):
        return Course.objects.get(code=code)


def _version(tenant: Tenant, code: str) -> CourseVersion:
    course = _course(tenant, code)
    version = courses.current_course_version(course)
    assert version is not None
    version.course = course
    return version


def _pass(user: User, code: str) -> QuizAttempt:
    version = _version(user.tenant, code)  # type: ignore[arg-type]
    answers = {
        qid: [o["id"] for o in q["options"] if o["correct"]]
        for qid, q in version.questions().items()
    }
    attempt = courses.start_attempt(user=user, version=version)
    return courses.submit_attempt(user=user, attempt_id=attempt.pk, answers=answers)


def _enrolments(tenant: Tenant, **filters: Any) -> list[Enrolment]:
    with tenant_scope(tenant):
        return list(Enrolment.objects.filter(**filters).select_related("course").order_by("pk"))


def _inbox(tenant: Tenant, user: User) -> list[tuple[str, dict[str, Any], str]]:
    with tenant_scope(tenant):
        return [
            (n.kind, n.params, n.link)
            for n in Notification.objects.filter(user=user, kind__startswith="training.").order_by(
                "pk"
            )
        ]


def _kinds(tenant: Tenant, user: User) -> list[str]:
    return [kind for kind, _params, _link in _inbox(tenant, user)]


def _admin(tenant: Tenant, name: str = "") -> User:
    """A tenant administrator who passed the staff course (so is never enrolled here)."""
    if name:
        admin = UserFactory(tenant=tenant, username=name, roles=[Role.TENANT_ADMIN])
    else:
        admin = UserFactory(tenant=tenant, roles=[Role.TENANT_ADMIN])
    _pass(admin, ALL_STAFF["code"])
    return admin


def _rider(tenant: Tenant, admin: User, name: str = "") -> User:
    """A user given the rider role by ``admin`` (through the service: enrolled)."""
    user = UserFactory(tenant=tenant, username=name) if name else UserFactory(tenant=tenant)
    grant_role(user=user, role=Role.RIDER, actor=admin)
    return user


def _publish_again(tenant: Tenant, admin: User, code: str) -> CourseVersion:
    current = _version(tenant, code)
    return courses.publish_course_version(
        course=current.course,
        actor=admin,
        title_zh=current.title_zh,
        title_en=current.title_en + " (2)",
        content=current.content,
    )


# --- enrolments ----------------------------------------------------------------------------


def test_a_role_given_enrols_in_the_courses_it_requires_due_in_the_grace_days(
    tenant: Tenant,
) -> None:
    admin = _admin(tenant)
    before = timezone.now()
    rider = _rider(tenant, admin)
    [enrolment] = _enrolments(tenant, user=rider)
    assert (enrolment.course.code, enrolment.version, enrolment.reason) == (
        RIDERS["code"],
        1,
        "role",
    )
    assert before + 14 * DAY <= enrolment.due_at <= timezone.now() + 14 * DAY
    with tenant_scope(tenant):
        event = AuditEvent.objects.get(action="training.enrolled")
    assert (event.actor, event.details) == (
        f"user:{admin.pk}",
        {"course": RIDERS["code"], "version": 1, "reason": "role", "users": [rider.pk]},
    )


def test_a_new_staff_user_is_enrolled_in_the_induction_course(tenant: Tenant) -> None:
    from tenants.services import create_staff_user

    admin = _admin(tenant)
    user = create_staff_user(
        tenant=tenant,
        username="cs-new",
        password="a-long-enough-Passw0rd!",
        roles=[Role.CUSTOMER_SERVICE],
        actor=admin,
    )
    assert [e.course.code for e in _enrolments(tenant, user=user)] == [ALL_STAFF["code"]]


def test_a_role_given_to_someone_cleared_for_its_course_enrols_nobody(tenant: Tenant) -> None:
    admin = _admin(tenant)
    user = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    _pass(user, ALL_STAFF["code"])
    grant_role(user=user, role=Role.PACKER, actor=admin)  # also requires the staff course
    assert [e.course.code for e in _enrolments(tenant, user=user)] == ["kitchen-packing"]


def test_enrolling_twice_leaves_one_open_enrolment(tenant: Tenant) -> None:
    rider = _rider(tenant, _admin(tenant))
    assert enrol_for_roles(rider, actor=SYSTEM) == []
    assert len(_enrolments(tenant, user=rider)) == 1


def test_only_a_tenant_administrator_or_a_job_enrols(tenant: Tenant) -> None:
    from django.core.exceptions import PermissionDenied

    rider = UserFactory(tenant=tenant, roles=[Role.RIDER])
    clerk = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    with pytest.raises(PermissionDenied) as refused:
        enrol_for_roles(rider, actor=clerk)
    assert str(refused.value) == "Only a tenant administrator enrols people in training."
    assert _enrolments(tenant) == []


def test_a_role_taken_away_withdraws_its_open_enrolment(tenant: Tenant) -> None:
    admin = _admin(tenant)
    rider = _rider(tenant, admin)
    revoke_role(user=rider, role=Role.RIDER, actor=admin)
    [enrolment] = _enrolments(tenant, user=rider)
    assert enrolment.withdrawn_at is not None
    with tenant_scope(tenant):
        event = AuditEvent.objects.get(action="training.enrolments_withdrawn")
    assert event.details == {"course": RIDERS["code"], "users": [rider.pk]}


def test_the_job_withdraws_the_enrolment_of_a_deactivated_user_once(tenant: Tenant) -> None:
    rider = _rider(tenant, _admin(tenant))
    User.objects.filter(pk=rider.pk).update(is_active=False)
    assert refresh_enrolments(tenant)["withdrawn"] == 1
    assert refresh_enrolments(tenant)["withdrawn"] == 0
    assert _enrolments(tenant, user=rider)[0].withdrawn_at is not None


def test_passing_the_quiz_completes_the_enrolment(tenant: Tenant) -> None:
    rider = _rider(tenant, _admin(tenant))
    attempt = _pass(rider, RIDERS["code"])
    [enrolment] = _enrolments(tenant, user=rider)
    assert enrolment.completed_at == attempt.submitted_at


def test_a_new_version_enrols_those_whose_pass_it_leaves_behind(tenant: Tenant) -> None:
    admin = _admin(tenant)
    passed = UserFactory(tenant=tenant, roles=[Role.RIDER])
    _pass(passed, RIDERS["code"])
    never = UserFactory(tenant=tenant, roles=[Role.RIDER])
    other_tenant = TenantFactory()
    seed_training(other_tenant, SYSTEM)
    stranger = UserFactory(tenant=other_tenant, roles=[Role.RIDER])
    version = _publish_again(tenant, admin, RIDERS["code"])
    made = _enrolments(tenant, reason="published")
    assert [(e.user_id, e.version) for e in made] == [(passed.pk, 2), (never.pk, 2)]
    assert {e.due_at for e in made} == {version.published_at + 14 * DAY}
    assert _enrolments(other_tenant) == []
    assert stranger.pk not in {e.user_id for e in made}


def test_a_new_version_of_a_course_not_renewed_on_new_versions_enrols_nobody(
    tenant: Tenant,
) -> None:
    admin = _admin(tenant)
    passed = UserFactory(tenant=tenant, roles=[Role.RIDER])
    _pass(passed, RIDERS["code"])
    with tenant_scope(tenant):
        Course.objects.filter(code=RIDERS["code"]).update(renew_on_new_version=False)
    _publish_again(tenant, admin, RIDERS["code"])
    assert _enrolments(tenant, user=passed) == []


def test_the_tenants_grace_days_set_the_due_date(tenant: Tenant) -> None:
    admin = _admin(tenant)
    tenant.training_grace_days = 3  # type: ignore[attr-defined]
    user = UserFactory(tenant=tenant)
    user.tenant = tenant  # the same object, with its grace days
    now = timezone.now()
    grant_role(user=user, role=Role.RIDER, actor=admin)
    [enrolment] = _enrolments(tenant, user=user)
    assert now + 3 * DAY <= enrolment.due_at <= timezone.now() + 3 * DAY


def test_a_pass_falling_due_enrols_for_renewal_due_when_it_expires(tenant: Tenant) -> None:
    rider = UserFactory(tenant=tenant, roles=[Role.RIDER])
    attempt = _pass(rider, RIDERS["code"])
    expires = add_months(attempt.submitted_at, RIDERS["renew_months"])  # type: ignore[arg-type]
    assert refresh_enrolments(tenant, now=expires - 40 * DAY)["enrolled"] == 0
    assert refresh_enrolments(tenant, now=expires - 20 * DAY)["enrolled"] == 1
    [enrolment] = _enrolments(tenant, user=rider)
    assert (enrolment.reason, enrolment.due_at) == ("renewal", expires)


def test_the_job_enrols_role_holders_not_yet_enrolled_and_stamps_completions(
    tenant: Tenant,
) -> None:
    rider = UserFactory(tenant=tenant, roles=[Role.RIDER])  # a role without the service
    assert refresh_enrolments(tenant) == {"enrolled": 1, "completed": 0, "withdrawn": 0}
    attempt = _pass(rider, RIDERS["code"])
    with tenant_scope(tenant):  # as if the pass had been made without the completion hook
        Enrolment.objects.update(completed_at=None)
    assert refresh_enrolments(tenant) == {"enrolled": 0, "completed": 1, "withdrawn": 0}
    assert _enrolments(tenant, user=rider)[0].completed_at == attempt.submitted_at


# --- reminders and escalations -------------------------------------------------------------


def _due_rider(tenant: Tenant, admin: User) -> tuple[User, Enrolment]:
    rider = _rider(tenant, admin, "rider-wang")
    [enrolment] = _enrolments(tenant, user=rider)
    return rider, enrolment


def test_the_learner_is_reminded_a_week_and_a_day_before_the_due_date(tenant: Tenant) -> None:
    admin = _admin(tenant)
    rider, enrolment = _due_rider(tenant, admin)
    due = enrolment.due_at
    assert run_tenant_reminders(tenant, now=due - 8 * DAY)["reminded"] == 0
    assert run_tenant_reminders(tenant, now=due - 7 * DAY + timedelta(hours=1))["reminded"] == 1
    assert run_tenant_reminders(tenant, now=due - 2 * DAY)["reminded"] == 0
    assert run_tenant_reminders(tenant, now=due - timedelta(hours=20))["reminded"] == 1
    day = timezone.localtime(due, tenant.zone).date().isoformat()
    link = reverse("training:course", args=[RIDERS["code"]])
    params = {"course": RIDERS["code"], "due": day}
    assert _inbox(tenant, rider) == [(TRAINING_DUE, params, link), (TRAINING_DUE, params, link)]
    assert _inbox(tenant, admin) == []
    with tenant_scope(tenant):
        kinds = sorted(TrainingReminder.objects.values_list("kind", flat=True))
        event = (
            AuditEvent.objects.filter(action="training.reminder_sent").order_by("sequence").first()
        )
    assert kinds == ["due_1", "due_7"]
    assert event is not None and event.details == {
        "enrolment": enrolment.pk,
        "course": RIDERS["code"],
        "user": rider.pk,
        "kind": "due_7",
        "period": 0,
        "notified": 1,
    }


def test_a_reminder_reads_as_a_sentence_with_the_date(tenant: Tenant) -> None:
    from tenants.notifications import message_of

    rider, enrolment = _due_rider(tenant, _admin(tenant))
    run_tenant_reminders(tenant, now=enrolment.due_at - 2 * DAY)
    with tenant_scope(tenant):
        notification = Notification.objects.get(user=rider)
    day = timezone.localtime(enrolment.due_at, tenant.zone)
    from django.utils.formats import date_format

    assert message_of(notification) == (
        f"Training due by {date_format(day.date(), 'DATE_FORMAT')}: {RIDERS['code']}"
    )


def test_an_escalation_names_the_learner_by_username_only(tenant: Tenant) -> None:
    from django.utils.formats import date_format

    from tenants.notifications import message_of

    admin = _admin(tenant)
    _rider, enrolment = _due_rider(tenant, admin)
    run_tenant_reminders(tenant, now=enrolment.due_at + DAY)
    with tenant_scope(tenant):
        notification = Notification.objects.get(user=admin)
    day = date_format(timezone.localtime(enrolment.due_at, tenant.zone).date(), "DATE_FORMAT")
    assert message_of(notification) == (
        f"Training overdue since {day}: rider-wang has not completed {RIDERS['code']}"
    )


def test_a_late_first_run_sends_only_the_days_reminder(tenant: Tenant) -> None:
    rider, enrolment = _due_rider(tenant, _admin(tenant))
    run_tenant_reminders(tenant, now=enrolment.due_at - timedelta(hours=2))
    run_tenant_reminders(tenant, now=enrolment.due_at - timedelta(hours=1))
    assert _kinds(tenant, rider) == [TRAINING_DUE]


def test_overdue_training_is_escalated_to_the_administrators_once_a_week(
    tenant: Tenant,
) -> None:
    admin, second = _admin(tenant, "admin-li"), _admin(tenant, "admin-zhou")
    rider, enrolment = _due_rider(tenant, admin)
    due = enrolment.due_at
    moments = [due + timedelta(hours=1), due + 3 * DAY, due + 7 * DAY, due + 13 * DAY]
    escalated = [run_tenant_reminders(tenant, now=m)["escalated"] for m in moments]
    assert escalated == [1, 0, 1, 0]
    day = timezone.localtime(due, tenant.zone).date().isoformat()
    course = _course(tenant, RIDERS["code"])
    link = f"{reverse('admin:training_enrolment_changelist')}?course={course.pk}&state=overdue"
    params = {"course": RIDERS["code"], "due": day, "user": "rider-wang"}
    for user in (admin, second):
        assert _inbox(tenant, user) == [(TRAINING_OVERDUE, params, link)] * 2
    assert TRAINING_OVERDUE not in _kinds(tenant, rider)
    with tenant_scope(tenant):
        periods = list(
            TrainingReminder.objects.filter(kind="overdue")
            .order_by("period")
            .values_list("period", flat=True)
        )
    assert periods == [0, 1]


def test_completed_training_is_neither_reminded_nor_escalated(tenant: Tenant) -> None:
    admin = _admin(tenant)
    rider, enrolment = _due_rider(tenant, admin)
    _pass(rider, RIDERS["code"])
    result = run_tenant_reminders(tenant, now=enrolment.due_at + DAY)
    assert (result["reminded"], result["escalated"]) == (0, 0)
    assert _inbox(tenant, admin) == []


def test_running_the_job_twice_sends_each_message_once(tenant: Tenant) -> None:
    admin = _admin(tenant)
    rider, enrolment = _due_rider(tenant, admin)
    for now in (enrolment.due_at - 3 * DAY, enrolment.due_at + DAY):
        first, second = run_tenant_reminders(tenant, now=now), run_tenant_reminders(tenant, now=now)
        assert (second["reminded"], second["escalated"]) == (0, 0)
        assert first["reminded"] + first["escalated"] == 1
    assert _kinds(tenant, rider) == [TRAINING_DUE]
    assert _kinds(tenant, admin) == [TRAINING_OVERDUE]


def test_another_tenant_is_untouched(tenant: Tenant) -> None:
    other = TenantFactory()
    seed_training(other, SYSTEM)
    other_admin = _admin(other)
    other_rider = UserFactory(tenant=other, roles=[Role.RIDER])  # would be enrolled by a run
    rider, enrolment = _due_rider(tenant, _admin(tenant))
    run_tenant_reminders(tenant, now=enrolment.due_at + DAY)
    assert _enrolments(other) == []
    assert (_inbox(other, other_admin), _inbox(other, other_rider)) == ([], [])


def test_the_job_makes_the_same_number_of_queries_for_ten_people_as_for_one(
    tenant: Tenant,
) -> None:
    admin = _admin(tenant)
    _due_rider(tenant, admin)
    now = timezone.now() + 20 * DAY  # overdue: the escalation is sent by the first run
    run_tenant_reminders(tenant, now=now)
    with CaptureQueriesContext(connection) as one:
        run_tenant_reminders(tenant, now=now)
    for n in range(9):
        _rider(tenant, admin, f"rider-{n}")
    run_tenant_reminders(tenant, now=now)
    with CaptureQueriesContext(connection) as ten:
        run_tenant_reminders(tenant, now=now)
    assert len(ten.captured_queries) == len(one.captured_queries)


def test_the_tasks_take_ids_only(tenant: Tenant) -> None:
    from training.tasks import send_tenant_training_reminders

    with pytest.raises(TypeError):
        send_tenant_training_reminders.apply_async(args=[tenant])


# --- the pages -----------------------------------------------------------------------------


def test_my_training_shows_the_due_date_then_overdue(client: Client, tenant: Tenant) -> None:
    rider, enrolment = _due_rider(tenant, _admin(tenant))
    client.force_login(rider)
    day = timezone.localtime(enrolment.due_at, tenant.zone).strftime("%Y-%m-%d")
    page = client.get(reverse("training:home"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f"Due by {day}" in page
    with tenant_scope(tenant):  # as if two weeks had passed (the session would not last)
        Enrolment.objects.filter(pk=enrolment.pk).update(due_at=timezone.now() - DAY)
    day = timezone.localtime(timezone.now() - DAY, tenant.zone).strftime("%Y-%m-%d")
    late = client.get(reverse("training:home"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f"Overdue since {day}" in late


def test_the_back_office_lists_enrolments_by_state_for_administrators(
    client: Client, tenant: Tenant
) -> None:
    admin = _admin(tenant)
    _due_rider(tenant, admin)
    url = reverse("admin:training_enrolment_changelist")
    for role in (Role.TENANT_ADMIN, Role.SUPERVISOR):
        client.force_login(UserFactory(tenant=tenant, roles=[role]))
        listed = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
        overdue = client.get(f"{url}?state=overdue", HTTP_ACCEPT_LANGUAGE="en")
        assert (listed.status_code, overdue.status_code) == (200, 200)
        assert "rider-wang" in listed.content.decode()
        assert "rider-wang" not in overdue.content.decode()
    course = _course(tenant, ALL_STAFF["code"])
    assert "rider-wang" not in client.get(f"{url}?course={course.pk}").content.decode()
    client.force_login(UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE]))
    assert client.get(url).status_code == 403


# --- concurrency and the real worker (PostgreSQL, Redis) -----------------------------------

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks and a real worker need PostgreSQL"
)


@needs_postgresql
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_two_runs_at_once_send_each_message_once() -> None:
    tenant = TenantFactory()
    seed_training(tenant, SYSTEM)
    admin = _admin(tenant)
    riders = [_rider(tenant, admin, f"rider-{n}") for n in range(5)]
    now = _enrolments(tenant)[0].due_at + DAY
    barrier = threading.Barrier(2)
    results: list[dict[str, int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(run_tenant_reminders(tenant, now=now))
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(r["escalated"] for r in results) == 5
    assert _kinds(tenant, admin) == [TRAINING_OVERDUE] * 5
    assert len(_enrolments(tenant)) == len(riders)


def _done(job: str, period: int) -> bool:
    return ScheduledRun.objects.filter(
        job=job, period=period_start(period), status=ScheduledRun.Status.DONE
    ).exists()


def _wait(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("the worker did not finish in time")


@needs_postgresql
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_the_beat_job_on_a_real_worker_reminds_then_escalates_exactly_once(worker: str) -> None:
    tenant = TenantFactory()
    seed_training(tenant, SYSTEM)
    admin = _admin(tenant, "admin-li")
    rider = _rider(tenant, admin, "rider-wang")  # due in 14 days
    real_now = timezone.now
    clock = {"offset": timedelta(0)}
    first_period = int(real_now().timestamp())
    sends = iter(range(first_period, first_period + 100))

    def beat(offset: timedelta) -> None:
        """What the beat sends, the clock moved ``offset`` forward: the job with its
        period, which queues the tenant's task on this queue; then a marker job behind
        that task: the worker takes them in order, so when the marker is done, so is the
        tenant's task."""
        clock["offset"] = offset
        period = next(sends)
        send_training_reminders.apply_async(kwargs={"period": period}, queue=worker)
        _wait(lambda: _done(send_training_reminders.name, period))  # the tenant's task queued
        clear_expired_sessions.apply_async(kwargs={"period": period}, queue=worker)
        _wait(lambda: _done(clear_expired_sessions.name, period))

    with mock.patch("django.utils.timezone.now", lambda: real_now() + clock["offset"]):
        beat(6 * DAY)  # eight days before: nothing yet
        assert _kinds(tenant, rider) == []
        beat(7 * DAY + timedelta(hours=1))  # a week before: the reminder
        assert _kinds(tenant, rider) == [TRAINING_DUE]
        beat(7 * DAY + timedelta(hours=2))  # an hour later: nothing more
        # Overdue: the administrator hears of it once that week, however often it runs.
        for offset in (15 * DAY, 15 * DAY + timedelta(hours=1), 16 * DAY):
            beat(offset)
        assert _kinds(tenant, admin) == [TRAINING_OVERDUE]
        beat(22 * DAY)  # the next week: once more
    assert _kinds(tenant, rider) == [TRAINING_DUE]
    assert _kinds(tenant, admin) == [TRAINING_OVERDUE, TRAINING_OVERDUE]
    with tenant_scope(tenant):
        sent = sorted(TrainingReminder.objects.values_list("kind", "period"))
    assert sent == [("due_7", 0), ("overdue", 0), ("overdue", 1)]
