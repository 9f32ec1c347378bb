"""Training coverage for supervisors (issue 19, point 7): for a tenant, per role and per
person, each required course's and the staff pledge's state — current, due soon, overdue
(expired), failed (the last submitted attempt failed and there is no current pass) or
missing — and the drills of the last 12 months.

A bounded number of queries whatever the number of people: the people and their roles
(one), the courses (one) and their current versions' titles (one), each requirement's
``clearance.status_of`` over everyone at once (two per course, two for the pledge), and
the last submitted attempts of everyone for every course (one). People are usernames;
nothing here reads a customer's data."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from django.db.models import Max, Q
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from tenants.models import Membership, Role, Tenant
from tenants.roles import works_in_back_office
from tenants.scoping import tenant_scope
from training.clearance import PLEDGE, Clearance, State, status_of
from training.gates import grace_until
from training.models import Course, CourseVersion, QuizAttempt, StaffPledge

PLEDGE_KEY = "pledge"
COVERAGE_VIEWERS = (Role.SUPERVISOR, Role.PRIVACY_OFFICER, Role.TENANT_ADMIN)


class Coverage(StrEnum):
    """A person's state for one requirement, worst last."""

    CURRENT = "current"
    DUE_SOON = "due_soon"
    MISSING = "missing"
    FAILED = "failed"
    OVERDUE = "overdue"

    @property
    def label(self) -> str | Promise:
        return COVERAGE_LABELS[self]


COVERAGE_LABELS: dict[Coverage, str | Promise] = {
    Coverage.CURRENT: _("Current"),
    Coverage.DUE_SOON: _("Due soon"),
    Coverage.OVERDUE: _("Overdue"),
    Coverage.FAILED: _("Failed"),
    Coverage.MISSING: _("Not taken"),
}
SEVERITY = list(Coverage)  # CURRENT < DUE_SOON < MISSING < FAILED < OVERDUE
SHOWN_ORDER = [
    Coverage.CURRENT,
    Coverage.DUE_SOON,
    Coverage.OVERDUE,
    Coverage.FAILED,
    Coverage.MISSING,
]


@dataclass(frozen=True)
class Requirement:
    key: str  # the course's code, or "pledge"
    title: str
    roles: frozenset[str]


@dataclass(frozen=True)
class Cell:
    state: Coverage
    at: datetime | None = None  # the date that goes with the state (see ``coverage_of``)


@dataclass
class Person:
    user_id: int
    username: str
    roles: list[str]
    cells: dict[str, Cell] = field(default_factory=dict)  # only the required ones

    def worst(self, keys: set[str] | None = None) -> Coverage | None:
        states = [c.state for k, c in self.cells.items() if keys is None or k in keys]
        return max(states, key=SEVERITY.index) if states else None


@dataclass
class RoleRow:
    role: str
    label: str | Promise
    people: int
    requirements: list[str]  # keys
    counts: dict[Coverage, int]


@dataclass
class TenantCoverage:
    requirements: list[Requirement]
    people: list[Person]
    roles: list[RoleRow]

    def requirement_keys(self, role: str | None) -> set[str] | None:
        if role is None:
            return None
        return {r.key for r in self.requirements if role in r.roles}

    def people_in(
        self, *, role: str | None = None, state: str | None = None, course: str | None = None
    ) -> list[Person]:
        """The people of ``role`` (all if None) whose state is ``state``: for ``course``'s
        requirement if given, else their worst over ``role``'s requirements (or all
        theirs). A person with nothing required matches no state."""
        found = []
        for person in self.people:
            if role is not None and role not in person.roles:
                continue
            if course is not None and course not in person.cells:
                continue
            if state is not None:
                keys = {course} if course is not None else self.requirement_keys(role)
                if person.worst(keys) != state:
                    continue
            found.append(person)
        return found


def _cell(clearance: Clearance, failed_at: datetime | None, grace_end: datetime | None) -> Cell:
    """``grace_end``: a pass superseded by a new version within the tenant's grace period
    (training.gates.grace_until) is due soon — by the grace's end —, not overdue."""
    if clearance.state == State.CURRENT:
        return Cell(Coverage.CURRENT, clearance.passed_at)
    if clearance.state == State.DUE_SOON:
        return Cell(Coverage.DUE_SOON, clearance.due_at)
    if grace_end is not None and failed_at is None:
        return Cell(Coverage.DUE_SOON, grace_end)
    if failed_at is not None:
        return Cell(Coverage.FAILED, failed_at)
    if clearance.state == State.EXPIRED:
        return Cell(Coverage.OVERDUE, clearance.due_at)
    return Cell(Coverage.MISSING)


def coverage_of(
    tenant: Tenant | int, *, language: str = "zh-hans", now: datetime | None = None
) -> TenantCoverage:
    """Everyone's coverage in ``tenant`` (active users holding a role). A cell's date: the
    last pass (current), when it falls due (due soon; after a new version, when the
    tenant's grace period ends), the failed attempt (failed), when it expired (overdue),
    none (missing)."""
    now = now or timezone.now()
    lang = "en" if language.startswith("en") else "zh"
    with tenant_scope(tenant):
        tenant_id = tenant if isinstance(tenant, int) else tenant.pk
        memberships = (
            Membership.objects.filter(user__is_active=True, user__tenant_id=tenant_id)
            .values_list("user_id", "user__username", "role")
            .order_by("user__username", "role")
        )
        people: dict[int, Person] = {}
        for user_id, username, role in memberships:
            people.setdefault(user_id, Person(user_id, username, [])).roles.append(role)
        courses = list(Course.objects.order_by("code"))
        titles: dict[int, str] = {}
        for course_id, title_zh, title_en in CourseVersion.objects.order_by(
            "course_id", "version"
        ).values_list("course_id", "title_zh", "title_en"):
            titles[course_id] = title_en if lang == "en" else title_zh  # the latest wins
        courses = [c for c in courses if c.pk in titles]  # published ones only
        failed = _last_failures(list(people), courses)
        has_pledge = StaffPledge.objects.exists()
        grace_tenant = tenant if isinstance(tenant, Tenant) else Tenant.objects.get(pk=tenant)
    requirements: list[Requirement] = []
    ids = list(people)
    for course in courses:
        roles = frozenset(course.roles)
        requirements.append(Requirement(course.code, titles[course.pk], roles))
        wanted = [pk for pk in ids if roles & set(people[pk].roles)]
        if not wanted:
            continue
        states = status_of(wanted, course, now=now)
        for pk in wanted:
            people[pk].cells[course.code] = _cell(
                states[pk], failed.get((pk, course.pk)), grace_until(states[pk], grace_tenant, now)
            )
    if has_pledge:
        staff_roles = frozenset(r for r in Role.values if r != Role.RIDER)
        requirements.append(Requirement(PLEDGE_KEY, str(_("Confidentiality pledge")), staff_roles))
        wanted = [pk for pk in ids if works_in_back_office(people[pk].roles)]
        if wanted:
            states = status_of(wanted, PLEDGE, tenant=tenant, now=now)
            for pk in wanted:
                people[pk].cells[PLEDGE_KEY] = _cell(
                    states[pk], None, grace_until(states[pk], grace_tenant, now)
                )
    everyone = list(people.values())
    return TenantCoverage(requirements, everyone, _role_rows(requirements, everyone))


def _last_failures(user_ids: list[int], courses: list[Course]) -> dict[tuple[int, int], datetime]:
    """(user, course) → when the user's last submitted attempt of the course failed, for
    those whose last submitted attempt failed (one query)."""
    if not user_ids or not courses:
        return {}
    rows = (
        QuizAttempt.objects.filter(
            user_id__in=user_ids, version__course__in=courses, submitted_at__isnull=False
        )
        .values("user_id", "version__course_id")
        .annotate(
            last=Max("submitted_at"),
            last_pass=Max("submitted_at", filter=Q(passed=True)),
        )
    )
    return {
        (row["user_id"], row["version__course_id"]): row["last"]
        for row in rows
        if row["last_pass"] is None or row["last_pass"] < row["last"]
    }


def _role_rows(requirements: list[Requirement], people: list[Person]) -> list[RoleRow]:
    """Per role held in the tenant: how many people, and how many are in each state
    (their worst over the role's requirements)."""
    held: dict[str, list[Person]] = defaultdict(list)
    for person in people:
        for role in person.roles:
            held[role].append(person)
    rows = []
    for role in Role:
        if role.value not in held:
            continue
        keys = {r.key for r in requirements if role.value in r.roles}
        counts = dict.fromkeys(SHOWN_ORDER, 0)
        for person in held[role.value]:
            worst = person.worst(keys)
            if worst is not None:
                counts[worst] += 1
        rows.append(RoleRow(role.value, role.label, len(held[role.value]), sorted(keys), counts))
    return rows
