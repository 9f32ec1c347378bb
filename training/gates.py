"""The training gates (issue 19, point 4; policy §4.1.2, §7.1): training that gates the
work it is about.

- **Reveal**: a customer-service user or a privacy officer reveals personal data only with
  a current pass of every course their gated roles must take and the current staff pledge
  signed (privacy.reveal asks ``reveal_gate``; its refusal says why and links here).
- **Dispatch**: a rider is dispatched only with a current pass of every course riders must
  take (riders.eligibility asks ``dispatch_gate`` for all candidates at once; the rider's
  pledge is the rider agreement, checked there).

A course with no published version requires nothing; neither does an unpublished pledge.
After a **new version** is published, people who passed the previous one have the tenant's
grace period (``Tenant.training_grace_days``, default 14 days) during which the gate warns
instead of refusing (``Unmet.until``: when the warning becomes a refusal). A pass that grew
old (every N months) or was never made gets no grace: the reminders come before it.

The callers record each decision: the refusal's event (``privacy.reveal_denied``,
``riders.dispatch_refused``) names the unmet requirements by code; a reveal or an
assignment allowed under the grace period names them in its own event.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from django.db import connections, router
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from core.lru import LRU
from tenants.models import Role, Tenant, User
from tenants.roles import roles_of
from tenants.scoping import tenant_scope
from training.clearance import (
    Clearance,
    State,
    Versions,
    course_statuses,
    pledge_statuses,
)
from training.models import Course, CourseVersion, GateGeneration

logger = logging.getLogger(__name__)

# The roles whose reveals are gated (the customer service and privacy officers).
REVEAL_GATED_ROLES: frozenset[str] = frozenset({Role.CUSTOMER_SERVICE, Role.PRIVACY_OFFICER})
PLEDGE_CODE = "pledge"


@dataclass(frozen=True)
class Unmet:
    """One requirement a person does not meet now: a course (by ``code``) or the pledge
    (``PLEDGE_CODE``), its ``state`` (expired or missing) and, under the grace period, the
    moment the warning becomes a refusal (``until``)."""

    code: str
    title: str
    state: State
    url: str
    until: datetime | None = None
    due_at: datetime | None = None  # when the pass expired
    superseded: bool = False  # expired by a newer version (not by age)

    @property
    def in_grace(self) -> bool:
        return self.until is not None


@dataclass(frozen=True)
class Gate:
    """A gate's decision for one person: what refuses them, what only warns."""

    refused: tuple[Unmet, ...] = ()
    warned: tuple[Unmet, ...] = ()
    zone: object = field(default=None, compare=False, repr=False)
    # When the first of the passes that meet the gate expires (None: none expires): how
    # long an open decision may be kept (``reveal_gate``'s kept decisions).
    cleared_until: datetime | None = field(default=None, compare=False, repr=False)

    @property
    def open(self) -> bool:
        return not self.refused

    @property
    def url(self) -> str:
        """Where to go to meet the first unmet requirement."""
        first = (self.refused or self.warned or (None,))[0]
        return first.url if first is not None else reverse("training:home")

    def audit_details(self) -> dict[str, list[str]]:
        """What the decision's audit event says: the codes refused and warned (no personal
        data, no translated text)."""
        details: dict[str, list[str]] = {}
        if self.refused:
            details["training_refused"] = [f"{u.code}:{u.state}" for u in self.refused]
        if self.warned:
            details["training_grace"] = [u.code for u in self.warned]
        return details

    def refusal_message(self, *, what: str) -> str:
        """Why the gate refuses (``what`` is the refused act, e.g. "reveal personal data")."""
        return _("You cannot %(what)s until you have %(needs)s.") % {
            "what": what,
            "needs": _join([_need(u) for u in self.refused]),
        }

    def reasons(self) -> list[str]:
        """The refusals in the third person, for whoever dispatches (``"no pass of the
        course “…”"``)."""
        out = []
        for u in self.refused:
            if u.state == State.MISSING:
                out.append(_("no pass of the course “%(title)s”") % {"title": u.title})
            elif u.due_at is not None and not u.superseded:
                out.append(
                    _("the pass of the course “%(title)s” expired on %(when)s")
                    % {"title": u.title, "when": _when(u.due_at, self.zone)}
                )
            else:
                out.append(
                    _("no pass of the current version of the course “%(title)s”")
                    % {"title": u.title}
                )
        return out

    def warning_message(self, *, what: str) -> str:
        """The warning under the grace period (``what``: the act that will be refused, as
        in ``refusal_message``)."""
        return _(
            "A new version is out: by %(until)s you need to have %(needs)s, or you will not "
            "be able to %(what)s."
        ) % {
            "what": what,
            "needs": _join([_need(u) for u in self.warned]),
            "until": _when(min(u.until for u in self.warned if u.until), self.zone),
        }


def _join(parts: list[str]) -> str:
    """ "a", "a and b", "a and b and c" (rarely more than two: a course and the pledge)."""
    joined = parts[0] if parts else ""
    for part in parts[1:]:
        joined = _("%(items)s and %(last)s") % {"items": joined, "last": part}
    return joined


def _when(moment: datetime, zone: object) -> str:
    return date_format(timezone.localtime(moment, zone), "DATETIME_FORMAT")  # type: ignore[arg-type]


def _need(unmet: Unmet) -> str:
    if unmet.code == PLEDGE_CODE:
        if unmet.state == State.MISSING:
            return _("signed the confidentiality pledge")
        return _("signed the new version of the confidentiality pledge")
    if unmet.state == State.MISSING:
        return _("passed the course “%(title)s”") % {"title": unmet.title}
    if unmet.until is not None or unmet.state == State.EXPIRED:
        return _("passed the current version of the course “%(title)s”") % {"title": unmet.title}
    return _("passed the course “%(title)s”") % {"title": unmet.title}


def _grace(tenant: Tenant) -> timedelta:
    return timedelta(days=tenant.training_grace_days)


def superseded_grace_end(clearance: Clearance, grace: timedelta) -> datetime | None:
    """For a pass superseded by a newer version: when its grace period ends — ``grace``
    from the first newer version's publication, never past the pass's own age limit
    (``renew_by``). None for any other state (a missing or an age-expired pass has none)."""
    if clearance.state != State.EXPIRED or not clearance.superseded or clearance.due_at is None:
        return None
    until = clearance.due_at + grace
    return min(until, clearance.renew_by) if clearance.renew_by is not None else until


def _classify(
    clearance: Clearance, grace: timedelta, now: datetime
) -> tuple[bool, datetime | None] | None:
    """None when met; else (refused?, when the warning becomes a refusal)."""
    if clearance.cleared:
        return None
    until = superseded_grace_end(clearance, grace)
    if until is not None and now < until:
        return False, until
    return True, None


def grace_until(
    clearance: Clearance, tenant: Tenant, now: datetime | None = None
) -> datetime | None:
    """When ``clearance``'s grace period ends (the gates warn until then), or None when it
    is not in one: what the coverage and the learner's page show as the due date."""
    decision = _classify(clearance, _grace(tenant), now or timezone.now())
    return decision[1] if decision is not None and not decision[0] else None


def _unmet(code: str, title: str, clearance: Clearance, url: str, until: datetime | None) -> Unmet:
    return Unmet(code, title, clearance.state, url, until, clearance.due_at, clearance.superseded)


def _published_courses(roles: Iterable[str]) -> tuple[list[Course], Versions]:
    """The tenant's courses (scope entered by the caller) with a published version that
    any of ``roles`` must take, and their versions (``clearance.course_versions``' shape):
    one query of small columns (the courses' rules and the versions' numbers and dates,
    never their content)."""
    wanted = set(roles)
    courses: dict[int, Course] = {}
    versions: Versions = {}
    for row in CourseVersion.objects.order_by("course__code", "version").values(
        "course_id",
        "version",
        "published_at",
        "course__code",
        "course__roles",
        "course__renew_months",
        "course__renew_on_new_version",
    ):
        if not wanted & set(row["course__roles"]):
            continue
        if row["course_id"] not in courses:
            courses[row["course_id"]] = Course(
                pk=row["course_id"],
                code=row["course__code"],
                roles=row["course__roles"],
                renew_months=row["course__renew_months"],
                renew_on_new_version=row["course__renew_on_new_version"],
            )
            versions[row["course_id"]] = []
        versions[row["course_id"]].append((row["version"], row["published_at"]))
    return list(courses.values()), versions


def _titles(courses: Iterable[Course], language: str) -> dict[int, str]:
    """The current version's title of each course, in ``language``: one query, asked only
    when someone does not meet a course (the message names it)."""
    titles: dict[int, str] = {}
    for version in (
        CourseVersion.objects.filter(course__in=[c.pk for c in courses])
        .order_by("course_id", "-version")
        .only("course_id", "version", "title_zh", "title_en")
    ):
        titles.setdefault(version.course_id, version.title(language))
    return titles


def _gate_for(
    user_ids: Sequence[int],
    tenant: Tenant,
    roles_by_user: dict[int, frozenset[str]],
    *,
    with_pledge: bool,
    now: datetime,
) -> dict[int, Gate]:
    """Three queries when everyone is cleared (the courses and their versions, the passes,
    the pledge's versions; a fourth for the pledge's signatures when one is published), one
    more to name the courses someone does not meet — whatever the number of people."""
    grace = _grace(tenant)
    all_roles = frozenset().union(*roles_by_user.values()) if roles_by_user else frozenset()
    decisions: dict[int, list[tuple[bool, Unmet]]] = {pk: [] for pk in user_ids}
    expiries: dict[int, list[datetime]] = {pk: [] for pk in user_ids}
    unmet_courses: dict[int, Course] = {}
    with tenant_scope(tenant):
        courses, versions = _published_courses(all_roles)
        states = course_statuses(list(user_ids), courses, versions, now=now)
        for course in courses:
            url = reverse("training:course", args=[course.code])
            for pk in user_ids:
                if not roles_by_user[pk] & set(course.roles):
                    continue
                clearance = states[course.pk][pk]
                decision = _classify(clearance, grace, now)
                if decision is None and clearance.due_at is not None:
                    expiries[pk].append(clearance.due_at)
                if decision is not None:
                    unmet_courses[course.pk] = course
                    is_refused, until = decision
                    decisions[pk].append(
                        (is_refused, _unmet(course.code, str(course.pk), clearance, url, until))
                    )
        pledge = pledge_statuses(list(user_ids), now) if with_pledge else None
        for pk, clearance in (pledge or {}).items():
            decision = _classify(clearance, grace, now)
            if decision is not None:
                is_refused, until = decision
                unmet = _unmet(PLEDGE_CODE, "", clearance, reverse("training:pledge"), until)
                decisions[pk].append((is_refused, unmet))
        titles = (
            _titles(unmet_courses.values(), get_language() or "zh-hans") if unmet_courses else {}
        )
    gates = {}
    for pk in user_ids:
        named = [
            (
                is_refused,
                replace(u, title=titles.get(int(u.title), "")) if u.code != PLEDGE_CODE else u,
            )
            for is_refused, u in decisions[pk]
        ]
        gates[pk] = Gate(
            tuple(u for r, u in named if r),
            tuple(u for r, u in named if not r),
            zone=tenant.zone,
            cleared_until=min(expiries[pk], default=None),
        )
    return gates


def reveal_gate(user: User, *, now: datetime | None = None) -> Gate:
    """Whether ``user``'s training lets them reveal personal data now. Open for anyone
    without a gated role. For a gated user (customer service, privacy officer): the courses
    of their gated roles with a published version, and the staff pledge — one query (the
    tenant's generation) when this process keeps a recent open decision for them, four
    more when it computes one (``_gate_for``)."""
    return _reveal_gate(user, now, confirmed=True)[0]


def kept_reveal_gate(user: User, *, now: datetime | None = None) -> tuple[Gate, int | None]:
    """``reveal_gate`` for a caller that confirms the tenant's generation itself, in the
    statement that acts on the decision (privacy.reveal: ``generation_condition``). An
    open decision this process keeps costs no query: it comes back with the generation it
    was computed under, which the caller's statement must find still current (else it
    writes nothing, and the caller forgets the decision with ``forget_kept`` and asks
    ``reveal_gate``). A decision computed now comes back with None: nothing to confirm."""
    return _reveal_gate(user, now, confirmed=False)


def _reveal_gate(user: User, now: datetime | None, *, confirmed: bool) -> tuple[Gate, int | None]:
    gated = roles_of(user) & REVEAL_GATED_ROLES
    tenant = user.tenant
    if not gated or tenant is None:
        return Gate(), None
    now = now or timezone.now()
    key = (tenant.pk, user.pk, gated)
    kept = _kept(key, now)
    if kept is not None and not confirmed:
        return Gate(zone=tenant.zone), kept
    generation = current_generation(tenant)
    if kept == generation:
        return Gate(zone=tenant.zone), None
    if kept is not None:
        _kept_decisions.forget(key)  # from before a course, a version or a pledge changed
    gate = _gate_for([user.pk], tenant, {user.pk: gated}, with_pledge=True, now=now)[user.pk]
    if gate.open and not gate.warned:
        _keep(key, generation, now, gate.cleared_until)
    return gate, None


# --- The reveal gate's kept decisions --------------------------------------------------------
# A customer-service agent reveals many times an hour, and the answer rarely changes: an
# open decision with nothing to warn about is kept in the process's memory for at most
# OPEN_FOR, and never past the moment the first of the agent's passes expires
# (``Gate.cleared_until``). Only open decisions are kept: a refusal or a warning is
# recomputed every time, so passing a course or signing the pledge takes effect at once.
# What can close an open gate besides time is a new course version, a new course or a new
# pledge: each renews the tenant's generation (``GateGeneration``) in the transaction that
# saves it. A kept decision names the generation read *before* it was computed and is used
# only while that generation is still the tenant's: ``reveal_gate`` reads it (one query),
# a reveal confirms it inside the statement that records the reveal (``kept_reveal_gate``,
# ``generation_condition``), so a course published in another process closes the gate for
# the next reveal in every process. Roles are part of the key. Nothing is kept in Redis:
# a reveal pays no cache round trip (issue 21, point 5).

OPEN_FOR = timedelta(minutes=5)
KEPT_DECISIONS = 10_000


# (tenant, user, gated roles) -> (generation, until: a timestamp); oldest forgotten first.
_kept_decisions = LRU(KEPT_DECISIONS)


def _kept(key: Any, now: datetime) -> int | None:
    """The generation of the open decision kept for ``key``, unless it ran out."""
    entry = _kept_decisions.get(key)
    if not isinstance(entry, tuple) or now.timestamp() >= entry[1]:
        return None
    return int(entry[0])


def _keep(key: Any, generation: int, now: datetime, cleared_until: datetime | None) -> None:
    until = now + OPEN_FOR
    if cleared_until is not None:
        until = min(until, cleared_until)
    _kept_decisions.put(key, (generation, until.timestamp()))


def forget_kept(user: User) -> None:
    """Forget this process's kept decision for ``user`` (its generation was not current)."""
    if user.tenant_id is not None:
        _kept_decisions.forget((user.tenant_id, user.pk, roles_of(user) & REVEAL_GATED_ROLES))


def clear_kept_decisions() -> None:
    """Forget every kept decision of this process (tests)."""
    _kept_decisions.clear()


def current_generation(tenant: Tenant) -> int:
    with tenant_scope(tenant):
        found = GateGeneration.objects.values_list("value", flat=True).first()
    return found or 0


def bump_on_save(sender: type, instance: Any, **_: Any) -> None:
    """post_save of a course, a course version or a pledge: renew the tenant's generation
    in the same transaction (a decision kept under the old one is used no more once the
    save commits; one computed before the commit was computed under the old one)."""
    bump_generation(instance.tenant)


def bump_generation(tenant: Tenant) -> None:
    """Renew the tenant's gate generation: every kept decision of the tenant ends."""
    meta = GateGeneration._meta
    connection = connections[router.db_for_write(GateGeneration)]
    quote = connection.ops.quote_name
    table, tenant_column, value = (
        quote(meta.db_table),
        quote(str(meta.get_field("tenant").column)),
        quote(str(meta.get_field("value").column)),
    )
    # A new random value, not a count: a database restored to an earlier state, or a row
    # lost, never comes back to a value a process still holds a decision under (0: none).
    generation = secrets.randbits(62) + 1
    with tenant_scope(tenant), connection.cursor() as cursor:
        # Identifiers from the model's metadata; the values are parameters.
        cursor.execute(
            f"INSERT INTO {table} ({tenant_column}, {value}) VALUES (%s, %s) "  # noqa: S608
            f"ON CONFLICT ({tenant_column}) DO UPDATE SET {value} = EXCLUDED.{value}",
            [tenant.pk, generation],
        )


@functools.lru_cache(maxsize=4)
def generation_condition(alias: str) -> str:
    """SQL that holds when the tenant's generation is still the one given: its parameters
    are the tenant's id and the generation (``kept_reveal_gate``'s)."""
    meta, quote = GateGeneration._meta, connections[alias].ops.quote_name
    tenant_column = quote(str(meta.get_field("tenant").column))
    value = quote(str(meta.get_field("value").column))
    return (
        f"COALESCE((SELECT {value} FROM {quote(meta.db_table)} "  # noqa: S608
        f"WHERE {tenant_column} = %s), 0) = %s"
    )


def dispatch_gate(
    user_ids: Sequence[int], tenant: Tenant, *, now: datetime | None = None
) -> dict[int, Gate]:
    """For riders' users (``user_ids``, of ``tenant``): whether their training lets them be
    dispatched now — a current pass of every published course riders must take. A
    constant number of queries whatever the number of riders."""
    if not user_ids:
        return {}
    roles = {pk: frozenset({Role.RIDER.value}) for pk in user_ids}
    return _gate_for(list(user_ids), tenant, roles, with_pledge=False, now=now or timezone.now())


def publishing_note(course: Course, *, first: bool, grace_days: int) -> str:
    """What publishing a version of ``course`` does to the gates, for the authoring form
    (empty when the course gates nothing)."""
    roles = set(course.roles)
    gated = []
    if roles & REVEAL_GATED_ROLES:
        gated.append(_("customer service and privacy officers cannot reveal personal data"))
    if Role.RIDER.value in roles:
        gated.append(_("riders cannot be dispatched"))
    if not gated:
        return ""
    if first:
        return _(
            "This course gates work: once this first version is published, until they pass "
            "it %(gated)s."
        ) % {"gated": _join(gated)}
    if not course.renew_on_new_version:
        return ""
    return _(
        "This course gates work: people who passed an earlier version have %(days)s days "
        "to pass this one; after that, until they do, %(gated)s."
    ) % {"days": grace_days, "gated": _join(gated)}
