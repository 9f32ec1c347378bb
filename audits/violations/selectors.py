"""Reads of violations (issue 20, point 4): scoped, bounded, and the only way views reach
a violation. Supervisors see the tenant's; the person sees only their own (through
``own_violation``); anyone else, or another tenant's violation, is a 404."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from django.db.models import Count, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.list_filters import parse_day
from audits.models import (
    OPEN_VIOLATION_STATES,
    AuditEvent,
    Sanction,
    SanctionKind,
    Violation,
    ViolationAnswer,
    ViolationClause,
    ViolationState,
)
from audits.violations.services import may_supervise
from tenants.models import Tenant, User

#: "Nth violation in the last 12 months" counts back this far.
REPEAT_WINDOW = timedelta(days=365)
#: From this many violations in the window on, a person is a repeat offender.
REPEAT_THRESHOLD = 2
LIST_LIMIT = 200


def _counted() -> Q:
    return ~Q(state=ViolationState.WITHDRAWN)


def with_repeat_count(queryset: QuerySet[Violation]) -> QuerySet[Violation]:
    """Annotate ``nth``: the violation's rank among the person's violations (withdrawn ones
    left out) recorded in the 12 months up to it. One correlated subquery, on the
    (tenant, person, recorded_at) index. A withdrawn violation counts itself only."""
    earlier = (
        Violation.objects.filter(
            Q(pk=OuterRef("pk")) | _counted(),
            person_id=OuterRef("person_id"),
            recorded_at__lte=OuterRef("recorded_at"),
            recorded_at__gt=OuterRef("recorded_at") - REPEAT_WINDOW,
        )
        .order_by()
        .values("person_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return queryset.annotate(nth=Coalesce(Subquery(earlier, output_field=IntegerField()), 0))


def repeat_offenders(tenant: Tenant, *, now: datetime | None = None) -> QuerySet[Any]:
    """The ids of the people with ``REPEAT_THRESHOLD`` violations or more (not withdrawn)
    recorded in the last 12 months (a values queryset, usable as a subquery)."""
    now = now or timezone.now()
    return (
        Violation.objects.filter(_counted(), recorded_at__gt=now - REPEAT_WINDOW)
        .order_by()
        .values("person_id")
        .annotate(n=Count("pk"))
        .filter(n__gte=REPEAT_THRESHOLD)
        .values("person_id")
    )


@dataclass(frozen=True)
class ListFilters:
    state: str = ""  # a ViolationState, or "open"
    clause: str = ""
    sanction: str = ""  # a SanctionKind
    repeat: bool = False
    person: str = ""  # a username
    since: date | None = None  # local dates, both included (the dashboard's period)
    until: date | None = None
    stale: bool = False  # recorded more than STALE_DAYS ago and not decided
    suspended: bool = False  # a suspension its sanction imposed is in force

    @classmethod
    def from_query(cls, query: Any) -> ListFilters:
        def one(name: str, allowed: set[str]) -> str:
            value = query.get(name, "")
            return value if value in allowed else ""

        def day(name: str) -> date | None:
            return parse_day(query.get(name, ""))

        person = query.get("person", "")
        return cls(
            state=one("state", {*ViolationState.values, "open"}),
            clause=one("clause", set(ViolationClause.values)),
            sanction=one("sanction", set(SanctionKind.values)),
            repeat=query.get("repeat") == "yes",
            person=person if isinstance(person, str) and 0 < len(person) <= 150 else "",
            since=day("since"),
            until=day("until"),
            stale=query.get("stale") == "yes",
            suspended=query.get("suspended") == "yes",
        )


STALE_DAYS = 30


def violations_for(user: object, tenant: Tenant, filters: ListFilters) -> QuerySet[Violation]:
    """The tenant's violations a supervisor lists, filtered, newest first, with the person,
    the sanctions and the repeat count (a constant number of queries). Anyone else: 404."""
    if not may_supervise(user, tenant):
        raise Http404(_("No such page."))
    # A supervisor's own violations are not theirs to supervise: they read them on their
    # own page, like anyone (docs/decisions/0016).
    queryset = (
        Violation.objects.exclude(person_id=cast(User, user).pk)
        .select_related("person")
        .prefetch_related(Prefetch("sanctions", queryset=Sanction.objects.order_by("pk")))
    )
    if filters.state == "open":
        queryset = queryset.filter(state__in=OPEN_VIOLATION_STATES)
    elif filters.state:
        queryset = queryset.filter(state=filters.state)
    if filters.clause:
        queryset = queryset.filter(clause=filters.clause)
    if filters.person:
        queryset = queryset.filter(person__username=filters.person, person__tenant_id=tenant.pk)
    zone = tenant.zone
    if filters.sanction:
        sanctions = Sanction.objects.filter(kind=filters.sanction)
        if filters.since:
            sanctions = sanctions.filter(decided_at__gte=_midnight(filters.since, zone))
        if filters.until:
            sanctions = sanctions.filter(
                decided_at__lt=_midnight(filters.until + timedelta(days=1), zone)
            )
        queryset = queryset.filter(pk__in=sanctions.values("violation_id"))
    else:
        if filters.since:
            queryset = queryset.filter(recorded_at__gte=_midnight(filters.since, zone))
        if filters.until:
            queryset = queryset.filter(
                recorded_at__lt=_midnight(filters.until + timedelta(days=1), zone)
            )
    if filters.repeat:
        queryset = queryset.filter(person_id__in=repeat_offenders(tenant))
    if filters.stale:
        queryset = queryset.filter(
            state=ViolationState.RECORDED,
            recorded_at__lt=timezone.now() - timedelta(days=STALE_DAYS),
        )
    if filters.suspended:
        now = timezone.now()
        queryset = queryset.filter(
            pk__in=Sanction.objects.filter(
                Q(suspension__ends_at__isnull=True) | Q(suspension__ends_at__gt=now),
                suspension__lifted_at__isnull=True,
                suspension__starts_at__lte=now,
            ).values("violation_id")
        )
    return with_repeat_count(queryset).order_by("-recorded_at", "-pk")


def _midnight(day: date, zone: Any) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def violation_for_supervisor(user: object, tenant: Tenant, violation_id: int) -> Violation:
    """One violation of ``tenant`` for a supervisor (with ``nth``); anything else — and a
    violation about the supervisor themselves — a 404."""
    if not may_supervise(user, tenant):
        raise Http404(_("No such violation."))
    found = (
        with_repeat_count(Violation.objects.select_related("person"))
        .exclude(person_id=cast(User, user).pk)
        .filter(pk=violation_id)
        .first()
    )
    if found is None:
        raise Http404(_("No such violation."))
    return found


def own_violation(user: object, tenant: Tenant, violation_id: int) -> Violation:
    """One of the person's own violations (of their tenant); anyone else's is a 404."""
    if not isinstance(user, User) or user.tenant_id != tenant.pk:
        raise Http404(_("No such violation."))
    found = Violation.objects.select_related("person").filter(pk=violation_id, person=user).first()
    if found is None:
        raise Http404(_("No such violation."))
    return found


def own_violations(user: User) -> list[Violation]:
    """The person's violations, newest first (at most ``LIST_LIMIT``)."""
    return list(
        Violation.objects.filter(person=user)
        .prefetch_related(Prefetch("sanctions", queryset=Sanction.objects.order_by("pk")))
        .order_by("-recorded_at", "-pk")[:LIST_LIMIT]
    )


def open_violations_of(user: User) -> list[Violation]:
    """The person's violations still open (recorded, decided, answered), newest first: the
    rider's home lists them. One query."""
    return list(
        Violation.objects.filter(person=user, state__in=OPEN_VIOLATION_STATES).order_by(
            "-recorded_at", "-pk"
        )[:20]
    )


def answers_of(violation: Violation) -> list[ViolationAnswer]:
    return list(ViolationAnswer.objects.filter(violation=violation).order_by("answered_at", "pk"))


def sanctions_of(violation: Violation) -> list[Sanction]:
    return list(
        Sanction.objects.filter(violation=violation).select_related("suspension").order_by("pk")
    )


def may_answer(violation: Violation) -> bool:
    """Whether the person can answer now (once per stage)."""
    if violation.state not in (ViolationState.RECORDED, ViolationState.DECIDED):
        return False
    return not ViolationAnswer.objects.filter(violation=violation, stage=violation.state).exists()


def timeline_of(violation: Violation) -> list[AuditEvent]:
    """The violation's audit events, in order (one query on the object index)."""
    return list(
        AuditEvent.objects.filter(
            object_type=violation._meta.label_lower, object_id=str(violation.pk)
        ).order_by("id")[:200]
    )
