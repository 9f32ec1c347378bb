"""Is this person cleared? The one read the gates, reminders and coverage ask (privacy and
riders may import it): for a set of users and one requirement — a course, or the staff
pledge — each user's state, in a constant number of queries whatever the number of users.

- ``current``: passed (signed) and not due within ``DUE_SOON``;
- ``due_soon``: passed, but the pass expires within ``DUE_SOON`` (periodic courses);
- ``expired``: passed once, but the pass is too old (``renew_months``) or was on a version
  older than the current one (``renew_on_new_version``; the pledge always): ``due_at`` is
  when it expired — the publication of the first version newer than the pass, or the
  pass's age limit, whichever came first — so a gate can give a grace period;
- ``missing``: never passed (or nothing is published yet).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from django.db.models import Max
from django.utils import timezone

from tenants.models import Tenant, User
from tenants.roles import roles_of
from tenants.scoping import tenant_scope
from training.models import Course, CourseVersion, PledgeSignature, QuizAttempt, StaffPledge

DUE_SOON = timedelta(days=30)


class State(StrEnum):
    CURRENT = "current"
    DUE_SOON = "due_soon"
    EXPIRED = "expired"
    MISSING = "missing"


class _Pledge:
    def __repr__(self) -> str:
        return "PLEDGE"


PLEDGE: Final = _Pledge()
"""The requirement "has signed the current staff pledge"."""


@dataclass(frozen=True)
class Clearance:
    state: State
    passed_at: datetime | None = None  # the last pass (signature)
    due_at: datetime | None = None  # when it expires or expired
    # Expired (or expiring) because a newer version was published at ``due_at`` (the first
    # version newer than the pass), not because the pass grew old: the case the gates'
    # grace period is for.
    superseded: bool = False
    # When the pass expires by age (``renew_months``), if it does: a grace period after a
    # new version never outlasts it.
    renew_by: datetime | None = None

    @property
    def cleared(self) -> bool:
        return self.state in (State.CURRENT, State.DUE_SOON)


def add_months(moment: datetime, months: int) -> datetime:
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _user_ids(users: Iterable[User | int]) -> list[int]:
    return [u if isinstance(u, int) else u.pk for u in users]


def status_of(
    users: Iterable[User | int],
    requirement: Course | str | _Pledge,
    *,
    tenant: Tenant | int | None = None,
    now: datetime | None = None,
) -> dict[int, Clearance]:
    """Each user's ``Clearance`` for ``requirement`` (a course, a course's code, or
    ``PLEDGE``), by user id. ``tenant`` is needed for a code or the pledge (the course's
    own otherwise); users of another tenant are simply ``missing``. Two queries (three for
    a course named by its code)."""
    ids = _user_ids(users)
    now = now or timezone.now()
    if isinstance(requirement, Course):
        tenant = requirement.tenant_id
    if tenant is None:
        raise ValueError("status_of needs the tenant for a course code or the pledge")
    with tenant_scope(tenant):
        if isinstance(requirement, _Pledge):
            return _pledge_status(ids, now)
        course = (
            requirement
            if isinstance(requirement, Course)
            else Course.objects.filter(code=requirement).first()
        )
        if course is None:
            return {pk: Clearance(State.MISSING) for pk in ids}
        return _course_status(ids, course, now)


def _course_status(ids: list[int], course: Course, now: datetime) -> dict[int, Clearance]:
    versions = course_versions([course])
    return course_statuses(ids, [course], versions, now=now)[course.pk]


Versions = dict[int, list[tuple[int, datetime]]]


def course_versions(courses: Sequence[Course]) -> Versions:
    """Each course's published versions as ``(number, published_at)``, oldest first, by
    course id: one query of two small columns (never the versions' content)."""
    out: Versions = {course.pk: [] for course in courses}
    for course_id, version, published in (
        CourseVersion.objects.filter(course__in=[c.pk for c in courses])
        .order_by("course_id", "version")
        .values_list("course_id", "version", "published_at")
    ):
        out[course_id].append((version, published))
    return out


def course_statuses(
    ids: list[int], courses: Sequence[Course], versions: Versions, *, now: datetime
) -> dict[int, dict[int, Clearance]]:
    """Each user's ``Clearance`` for each of ``courses`` (of one tenant, its scope entered),
    by course id then user id, from their ``versions`` (``course_versions``): one query for
    the passes, whatever the number of courses and users."""
    rows = (
        {
            (row["user_id"], row["version__course_id"]): row
            for row in QuizAttempt.objects.filter(
                user_id__in=ids, version__course__in=[c.pk for c in courses], passed=True
            )
            .values("user_id", "version__course_id")
            .annotate(last=Max("submitted_at"), top=Max("version__version"))
        }
        if ids and courses
        else {}
    )
    result: dict[int, dict[int, Clearance]] = {}
    for course in courses:
        published = versions.get(course.pk) or []
        result[course.pk] = {
            pk: _course_clearance(course, published, rows.get((pk, course.pk)), now) for pk in ids
        }
    return result


def _course_clearance(
    course: Course,
    versions: list[tuple[int, datetime]],
    row: dict[str, Any] | None,
    now: datetime,
) -> Clearance:
    if not versions or row is None:
        return Clearance(State.MISSING)
    renew_by = add_months(row["last"], course.renew_months) if course.renew_months else None
    superseded_at = _first_newer(versions, row["top"]) if course.renew_on_new_version else None
    return _state(row["last"], renew_by, superseded_at, now)


def _first_newer(versions: list[tuple[int, datetime]], top: int) -> datetime | None:
    """When the first version newer than ``top`` was published (None: ``top`` is current).
    A person two versions behind has been behind since the first of them: a later version
    never restarts their grace period."""
    return next((published for version, published in versions if version > top), None)


def _state(
    passed_at: datetime, renew_by: datetime | None, superseded_at: datetime | None, now: datetime
) -> Clearance:
    """The state from a pass's two deadlines: its age (``renew_by``) and a newer version
    (``superseded_at``), whichever comes first."""
    dues = [d for d in (renew_by, superseded_at) if d is not None]
    due = min(dues) if dues else None
    superseded = superseded_at is not None and due == superseded_at
    if due is not None and due <= now:
        return Clearance(State.EXPIRED, passed_at, due, superseded, renew_by)
    if due is not None and due - now <= DUE_SOON:
        return Clearance(State.DUE_SOON, passed_at, due, superseded, renew_by)
    return Clearance(State.CURRENT, passed_at, due, False, renew_by)


def _pledge_status(ids: list[int], now: datetime) -> dict[int, Clearance]:
    return pledge_statuses(ids, now) or {pk: Clearance(State.MISSING) for pk in ids}


def pledge_statuses(ids: list[int], now: datetime) -> dict[int, Clearance] | None:
    """Each user's ``Clearance`` for the staff pledge (scope entered), or None when the
    tenant has published no pledge: two small queries."""
    versions = list(StaffPledge.objects.order_by("version").values_list("version", "published_at"))
    if not versions:
        return None
    rows = {
        row["user_id"]: row
        for row in PledgeSignature.objects.filter(user_id__in=ids)
        .values("user_id")
        .annotate(last=Max("signed_at"), top=Max("pledge__version"))
    }
    result = {}
    for pk in ids:
        row = rows.get(pk)
        if row is None:
            result[pk] = Clearance(State.MISSING)
        elif (superseded_at := _first_newer(versions, row["top"])) is not None:
            result[pk] = Clearance(State.EXPIRED, row["last"], superseded_at, superseded=True)
        else:
            result[pk] = Clearance(State.CURRENT, row["last"])
    return result


def required_courses(user: User, courses: Iterable[Course]) -> list[Course]:
    roles = roles_of(user)
    return [c for c in courses if roles & set(c.roles)]


def induction_passed(user: User) -> bool:
    """True when ``user`` holds a current pass of every induction course of their roles
    (and trivially when the tenant has none)."""
    with tenant_scope(user.tenant_id):
        courses = required_courses(user, Course.objects.filter(induction=True))
    return all(status_of([user], course)[user.pk].cleared for course in courses)
