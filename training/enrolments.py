"""Enrolments (issue 19, point 5): who must take which course by when.

An enrolment is made, for each course a person's roles require and that they are not
cleared for (``training.clearance.status_of``):

- when they are given a role (``enrol_for_roles``, from the ``tenants.signals.tenant_change``
  signal of ``grant_role`` and ``create_staff_user``): due ``grace_days`` after enrolment;
- when a course version is published (``enrol_on_publish``, in the publication's
  transaction): the first version of a course, or a new one of a course that renews on a
  new version, enrols everyone whose pass it leaves behind — due ``grace_days`` after the
  publication;
- when a pass falls due (``refresh_enrolments``, the daily reminders job): a pass that
  expires within ``clearance.DUE_SOON`` — due when it expires; and anyone still required
  but without an open enrolment (a role given before enrolments existed).

At most one enrolment of a person and a course is open (a partial unique constraint): a
second one is skipped by ``INSERT ... ON CONFLICT DO NOTHING``, so two runs at once enrol
once. An enrolment is completed by a pass made after it (``complete_enrolments`` when the
quiz is passed; ``refresh_enrolments`` catches up), and withdrawn when no role of its
person requires the course any more. Each batch is one audit event naming the course, the
reason and the users by id.

``grace_days`` is the tenant's ``training_grace_days`` (default 14), the grace the gates
give for a new version.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import connections, router, transaction
from django.db.models import Case, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.services import record_event
from tenants.actors import Actor, SystemActor
from tenants.bulk import hot_cursor, insert_statement
from tenants.models import Membership, Role, Tenant, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope
from training.clearance import Clearance, State, status_of
from training.gates import superseded_grace_end
from training.models import Course, CourseVersion, Enrolment, EnrolmentReason

ENROLMENT_ACTOR = SystemActor("training-enrolments")


def grace_days(tenant: Tenant) -> int:
    return tenant.training_grace_days


def _require_admin_or_system(actor: Actor, tenant: Tenant) -> None:
    """Enrolling follows a role given by a tenant administrator (or a platform operator)
    or a job's pass."""
    if isinstance(actor, SystemActor):
        return
    if isinstance(actor, User) and actor.is_active and actor.is_superuser:
        return
    if (
        not isinstance(actor, User)
        or actor.tenant_id != tenant.pk
        or not has_role(actor, Role.TENANT_ADMIN)
    ):
        raise PermissionDenied(_("Only a tenant administrator enrols people in training."))


def _current_versions(course_ids: Iterable[int]) -> dict[int, tuple[int, datetime]]:
    """Each course's current (latest) version number and publication time: one query."""
    latest: dict[int, tuple[int, datetime]] = {}
    rows = CourseVersion.objects.filter(course_id__in=list(course_ids)).values_list(
        "course_id", "version", "published_at"
    )
    for course_id, version, published_at in rows:
        if course_id not in latest or version > latest[course_id][0]:
            latest[course_id] = (version, published_at)
    return latest


def _insert(rows: list[Enrolment]) -> list[int]:
    """Insert ``rows``, skipping a person's second open enrolment of a course; the ids of
    the rows inserted (one statement)."""
    if not rows:
        return []
    statement, params = insert_statement(Enrolment, rows, skip_conflicts=True)
    connection = connections[router.db_for_write(Enrolment)]
    with hot_cursor(connection) as cursor:
        cursor.execute(statement, params)
        return [pk for (pk,) in cursor.fetchall()]


def _create(tenant: Tenant, actor: Actor, rows: list[Enrolment]) -> list[Enrolment]:
    """Write ``rows`` and one audit event per course and reason; the enrolments made."""
    ids = _insert(rows)
    if not ids:
        return []
    made = list(Enrolment.objects.filter(pk__in=ids).select_related("course").order_by("pk"))
    groups: dict[tuple[int, str], list[Enrolment]] = defaultdict(list)
    for enrolment in made:
        groups[(enrolment.course_id, enrolment.reason)].append(enrolment)
    for (_course_id, reason), group in groups.items():
        course = group[0].course
        record_event(
            tenant=tenant,
            actor=actor,
            action="training.enrolled",
            target=course,
            details={
                "course": course.code,
                "version": group[0].version,
                "reason": reason,
                "users": [e.user_id for e in group],
            },
        )
    return made


def _enrolment(
    tenant: Tenant,
    course: Course,
    user_id: int,
    *,
    version: int,
    reason: str,
    now: datetime,
    due_at: datetime,
) -> Enrolment:
    return Enrolment(
        tenant=tenant,
        user_id=user_id,
        course=course,
        version=version,
        reason=reason,
        created_at=now,
        due_at=due_at,
    )


def enrol_for_roles(user: User, *, actor: Actor, now: datetime | None = None) -> list[Enrolment]:
    """Enrol ``user`` in each published course their roles require that they are not
    cleared for and have no open enrolment in; due ``grace_days`` from now. Reads the
    roles from the database (the caller may have just given one)."""
    tenant = user.tenant
    if tenant is None:
        return []
    _require_admin_or_system(actor, tenant)
    now = now or timezone.now()
    due = now + timedelta(days=grace_days(tenant))
    with tenant_scope(tenant), transaction.atomic():
        roles = set(Membership.objects.filter(user=user).values_list("role", flat=True))
        courses = [c for c in Course.objects.order_by("pk") if roles & set(c.roles)]
        versions = _current_versions(c.pk for c in courses)
        rows = []
        for course in courses:
            if course.pk not in versions:
                continue  # nothing to take yet: publishing the first version enrols
            if status_of([user.pk], course, now=now)[user.pk].cleared:
                continue
            rows.append(
                _enrolment(
                    tenant,
                    course,
                    user.pk,
                    version=versions[course.pk][0],
                    reason=EnrolmentReason.ROLE,
                    now=now,
                    due_at=due,
                )
            )
        return _create(tenant, actor, rows)


def withdraw_for_roles(user: User, *, actor: Actor, now: datetime | None = None) -> int:
    """Withdraw ``user``'s open enrolments in courses none of their roles requires now."""
    tenant = user.tenant
    if tenant is None:
        return 0
    _require_admin_or_system(actor, tenant)
    now = now or timezone.now()
    with tenant_scope(tenant), transaction.atomic():
        roles = set(Membership.objects.filter(user=user).values_list("role", flat=True))
        open_rows = list(
            Enrolment.objects.filter(
                user=user, completed_at__isnull=True, withdrawn_at__isnull=True
            ).select_related("course")
        )
        gone = [e for e in open_rows if not roles & set(e.course.roles)]
        return _withdraw(tenant, actor, gone, now)


def _withdraw(tenant: Tenant, actor: Actor, gone: list[Enrolment], now: datetime) -> int:
    if not gone:
        return 0
    # Only those still open once locked: a concurrent run may have withdrawn them first.
    still_open = set(
        Enrolment.objects.select_for_update(of=("self",))
        .filter(pk__in=[e.pk for e in gone], withdrawn_at__isnull=True, completed_at__isnull=True)
        .values_list("pk", flat=True)
    )
    gone = [e for e in gone if e.pk in still_open]
    if not gone:
        return 0
    Enrolment.objects.filter(pk__in=still_open).update(withdrawn_at=now)
    by_course: dict[int, list[Enrolment]] = defaultdict(list)
    for enrolment in gone:
        by_course[enrolment.course_id].append(enrolment)
    for group in by_course.values():
        record_event(
            tenant=tenant,
            actor=actor,
            action="training.enrolments_withdrawn",
            target=group[0].course,
            details={"course": group[0].course.code, "users": [e.user_id for e in group]},
        )
    return len(gone)


def enrol_on_publish(version: CourseVersion, *, actor: Actor) -> list[Enrolment]:
    """Inside the publication's transaction (``training.courses.publish_course_version``):
    the first version of a course, or a new one of a course renewed on a new version,
    enrols every active holder of its roles who is not cleared for it — due
    ``grace_days`` after the publication. The permission was checked by the publisher."""
    course = version.course
    if version.version > 1 and not course.renew_on_new_version:
        return []
    tenant = course.tenant
    published = version.published_at
    due = published + timedelta(days=grace_days(tenant))
    with tenant_scope(tenant):
        holders = set(
            Membership.objects.filter(role__in=course.roles, user__is_active=True).values_list(
                "user_id", flat=True
            )
        )
        states = status_of(sorted(holders), course, now=published)
        rows = [
            _enrolment(
                tenant,
                course,
                user_id,
                version=version.version,
                reason=EnrolmentReason.PUBLISHED,
                now=published,
                due_at=due,
            )
            for user_id, clearance in sorted(states.items())
            if not clearance.cleared
        ]
        return _create(tenant, actor, rows)


def complete_enrolments(*, user: User, course: Course, at: datetime) -> int:
    """Inside the transaction of a passed quiz attempt (``training.courses``): the user's
    open enrolment in the course is completed."""
    with tenant_scope(course.tenant_id):
        return Enrolment.objects.filter(
            user=user, course=course, completed_at__isnull=True, withdrawn_at__isnull=True
        ).update(completed_at=at)


def _completed_at(enrolment: dict[str, Any], clearance: Clearance | None) -> datetime | None:
    """When a pass made since ``enrolment`` completed it (None: not completed)."""
    if clearance is None or not clearance.cleared or clearance.passed_at is None:
        return None
    return clearance.passed_at if clearance.passed_at >= enrolment["created_at"] else None


def refresh_enrolments(
    tenant: Tenant, *, now: datetime | None = None, actor: Actor = ENROLMENT_ACTOR
) -> dict[str, int]:
    """The reminders job's first step for ``tenant``: open enrolments completed by a pass
    are stamped, those no role requires any more withdrawn, and the people required but
    not cleared and not enrolled are enrolled (passes falling due within ``DUE_SOON``:
    due when they expire). A constant number of queries for any number of people: four,
    two per course (``status_of``), and the writes."""
    _require_admin_or_system(actor, tenant)
    now = now or timezone.now()
    grace = timedelta(days=grace_days(tenant))
    with tenant_scope(tenant), transaction.atomic():
        courses = {c.pk: c for c in Course.objects.all()}
        versions = _current_versions(courses)
        holders: dict[int, set[str]] = defaultdict(set)
        for user_id, role in Membership.objects.filter(user__is_active=True).values_list(
            "user_id", "role"
        ):
            holders[user_id].add(role)
        open_rows = list(
            Enrolment.objects.filter(completed_at__isnull=True, withdrawn_at__isnull=True).values(
                "pk", "user_id", "course_id", "created_at", "due_at", "reason"
            )
        )
        open_by_course: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in open_rows:
            open_by_course[row["course_id"]].append(row)
        done: list[tuple[int, datetime]] = []
        moved: list[tuple[int, datetime]] = []
        gone: list[Enrolment] = []
        new: list[Enrolment] = []
        for course in courses.values():
            required = {u for u, roles in holders.items() if roles & set(course.roles)}
            enrolled = {row["user_id"] for row in open_by_course[course.pk]}
            if course.pk not in versions:
                states: dict[int, Clearance] = {}
            else:
                states = status_of(sorted(required | enrolled), course, now=now)
            for row in open_by_course[course.pk]:
                clearance = states.get(row["user_id"])
                if row["user_id"] not in required:
                    gone.append(Enrolment(pk=row["pk"], user_id=row["user_id"], course=course))
                elif (completed_at := _completed_at(row, clearance)) is not None:
                    done.append((row["pk"], completed_at))
                elif (
                    row["reason"] == EnrolmentReason.PUBLISHED
                    and clearance is not None
                    and (due := superseded_grace_end(clearance, grace)) is not None
                    and due != row["due_at"]
                ):
                    moved.append((row["pk"], due))  # the tenant changed its grace period
            if course.pk not in versions:
                continue
            version, published_at = versions[course.pk]
            for user_id in sorted(required - enrolled):
                clearance = states[user_id]
                if clearance.state == State.CURRENT:
                    continue
                if clearance.state == State.MISSING:
                    reason, due = EnrolmentReason.ROLE, now + grace
                elif (due_new := superseded_grace_end(clearance, grace)) is not None:
                    reason, due = EnrolmentReason.PUBLISHED, due_new
                else:  # due soon, or expired by age
                    reason, due = EnrolmentReason.RENEWAL, clearance.due_at or now
                new.append(
                    _enrolment(
                        tenant, course, user_id, version=version, reason=reason, now=now, due_at=due
                    )
                )
        if done:
            Enrolment.objects.filter(pk__in=[pk for pk, _at in done]).update(
                completed_at=Case(*[When(pk=pk, then=Value(at)) for pk, at in done])
            )
        if moved:
            Enrolment.objects.filter(pk__in=[pk for pk, _at in moved]).update(
                due_at=Case(*[When(pk=pk, then=Value(at)) for pk, at in moved])
            )
        withdrawn = _withdraw(tenant, actor, gone, now)
        made = _create(tenant, actor, new)
    return {"enrolled": len(made), "completed": len(done), "withdrawn": withdrawn}


def on_tenant_change(
    sender: Any, *, action: str, actor: Actor, tenant: Tenant, target: Any, **_: Any
) -> None:
    """``tenants.signals.tenant_change`` receiver (connected in training's AppConfig): a
    role given enrols, a role taken away withdraws. In the granting transaction."""
    if action == "role.granted":
        enrol_for_roles(target.user, actor=actor)
    elif action == "user.created":
        enrol_for_roles(target, actor=actor)
    elif action == "role.revoked":
        withdraw_for_roles(target.user, actor=actor)


def open_enrolments(user: User) -> dict[int, Enrolment]:
    """The user's open enrolments by course id (the learner's page)."""
    with tenant_scope(user.tenant_id):
        return {
            e.course_id: e
            for e in Enrolment.objects.filter(
                user=user, completed_at__isnull=True, withdrawn_at__isnull=True
            )
        }
