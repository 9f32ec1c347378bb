"""The supervisor dashboard's access statistics (issue 20): "Reveals" — records revealed
per local day by purpose and by role, the top revealers — and "Denied reveals".

Read from ``AccessRollup`` alone (audits.access_rollups keeps it), through its key's index
that leads with (tenant, bucket): a constant number of queries whatever the log's size, each
bounded by the period's hours. Hours (UTC) are grouped into the tenant's local days by the
database (``TruncDate`` in the request's zone, the tenant's). Every number links to the
audit log's list, filtered the same way (``access``, ``purpose``, ``role``, ``actor`` and
the period's ``since``/``until``). People are shown by username and roles, never a
customer's data.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.http import HttpRequest
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext

from audits.models import AccessKind, AccessRollup, AccessRollupCursor
from audits.panels import Period
from core.audit_registry import purpose_label
from tenants.models import IntegrationToken, Role, Tenant, User

TOP_REVEALERS = 10
TOP_DENIED = 5
#: The chart's colours, one per purpose (unfold resolves the ``var(...)`` ones).
PALETTE = (
    "var(--color-primary-700)",
    "var(--color-primary-400)",
    "#0e7490",
    "#b45309",
    "#15803d",
    "#b91c1c",
    "#6d28d9",
    "#475569",
    "#be185d",
    "#4d7c0f",
    "#1d4ed8",
    "#a16207",
)
NO_ROLE = ""


@dataclass(frozen=True)
class Figure:
    """A number and the audit log's list behind it."""

    n: int
    url: str


class _Links:
    """The audit log's list filtered by some params over the period (or over one day):
    the list's address and the period's dates found once per panel, not per number."""

    def __init__(self, period: Period) -> None:
        self.base = reverse("admin:audits_auditevent_changelist")
        self.dates = period.query()

    def __call__(self, params: Mapping[str, str], *, day: date | None = None) -> str:
        dates = self.dates
        if day is not None:
            dates = urlencode({"since": day.isoformat(), "until": day.isoformat()})
        return f"{self.base}?{urlencode(params)}&{dates}"


def _rows(tenant: Tenant, period: Period, *kinds: AccessKind) -> Any:
    return AccessRollup.objects.filter(
        tenant=tenant,
        bucket__gte=period.start,
        bucket__lt=period.end,
        kind__in=[kind.value for kind in kinds],
    )


def _days(period: Period) -> list[date]:
    first, last = period.first_day, period.last_day
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def role_label(role: str) -> str:
    if role == NO_ROLE:
        return gettext("No role")
    try:
        return str(Role(role).label)
    except ValueError:
        return role


@dataclass(frozen=True)
class Person:
    """An actor as people read it: a username and the roles held now."""

    name: str
    roles: str


def people(tenant: Tenant, actors: Iterable[str]) -> dict[str, Person]:
    """Actor labels → ``Person``: one query for the users (with their roles), one for the
    tokens, each only when there are any. A deleted user or token shows as such."""
    labels = set(actors)
    users: dict[int, str] = {}
    tokens: dict[int, str] = {}
    for label in labels:
        kind, _sep, rest = label.partition(":")
        if rest.isdigit() and len(rest) < 19:
            (users if kind == "user" else tokens if kind == "token" else {})[int(rest)] = label
    found: dict[str, Person] = {}
    if users:
        names: dict[int, str] = {}
        roles: dict[int, list[str]] = defaultdict(list)
        rows = (
            User.objects.filter(pk__in=list(users), tenant=tenant)
            .values_list("pk", "username", "memberships__role")
            .order_by("pk", "memberships__role")
        )
        for pk, username, role in rows:
            names[pk] = username
            if role:
                roles[pk].append(role_label(role))
        for pk, username in names.items():
            found[users[pk]] = Person(username, ", ".join(sorted(roles[pk])))
    if tokens:
        rows = IntegrationToken.objects.filter(pk__in=list(tokens), tenant=tenant).values_list(
            "pk", "name"
        )
        for pk, name in rows:
            found[tokens[pk]] = Person(gettext("Integration token: %(name)s") % {"name": name}, "")
    for label in labels - found.keys():
        kind, _sep, rest = label.partition(":")
        if kind == "user":
            found[label] = Person(gettext("user #%(id)s (deleted)") % {"id": rest}, "")
        elif kind == "token":
            found[label] = Person(gettext("Integration token #%(id)s (deleted)") % {"id": rest}, "")
        elif kind == "system":
            found[label] = Person(gettext("System: %(name)s") % {"name": rest}, "")
        else:
            found[label] = Person(label, "")
    return found


def _ranked(
    tenant: Tenant, period: Period, link: _Links, kind: AccessKind, limit: int, order: str
) -> list[dict[str, Any]]:
    """The ``limit`` actors with the most ``order`` (records or events) of ``kind``."""
    rows = list(
        _rows(tenant, period, kind)
        .values("actor")
        .annotate(records=Sum("records"), events=Sum("events"))
        .order_by(f"-{order}", "actor")[:limit]
    )
    shown = people(tenant, (row["actor"] for row in rows))
    return [
        {
            "name": shown[row["actor"]].name,
            "roles": shown[row["actor"]].roles,
            "records": Figure(
                int(row["records"]), link({"access": kind.value, "actor": row["actor"]})
            ),
            "events": int(row["events"]),
        }
        for row in rows
    ]


def _as_of(tenant: Tenant) -> Any:
    return (
        AccessRollupCursor.objects.filter(tenant=tenant)
        .values_list("rolled_up_at", flat=True)
        .first()
    )


def _chart(labels: list[str], datasets: list[dict[str, Any]], *, stacked: bool) -> dict[str, str]:
    """The unfold chart component's ``data`` and ``options`` (JSON for its data-
    attributes: Chart.js served by unfold, no inline script)."""
    options = {
        "animation": False,
        "responsive": True,
        "maintainAspectRatio": False,
        "plugins": {
            "legend": {
                "display": len(datasets) > 1,
                "position": "bottom",
                "labels": {"boxWidth": 10, "boxHeight": 10},
            },
            "tooltip": {"enabled": True},
        },
        "scales": {
            "x": {"stacked": stacked, "grid": {"display": False}},
            "y": {"stacked": stacked, "beginAtZero": True, "ticks": {"precision": 0}},
        },
    }
    return {
        "data": json.dumps({"labels": labels, "datasets": datasets}, ensure_ascii=False),
        "options": json.dumps(options),
    }


def reveals_panel(request: HttpRequest, tenant: Tenant, period: Period) -> dict[str, Any]:
    """The "Reveals" panel's context: records revealed per local day by purpose (chart and
    table), by role, and the top revealers. Five queries, whatever the log's size."""
    reveal = AccessKind.REVEAL
    link = _Links(period)
    zone = timezone.get_current_timezone()
    days = _days(period)
    by_day: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    rows = (
        _rows(tenant, period, reveal)
        .annotate(day=TruncDate("bucket", tzinfo=zone))
        .values("day", "purpose")
        .annotate(records=Sum("records"))
        .order_by()
    )
    for row in rows:
        by_day[row["purpose"]][row["day"]] += int(row["records"])
    purposes = sorted(by_day, key=lambda p: (-sum(by_day[p].values()), p))
    # An event without a purpose (none is required of a job's) has no filter of its own.
    filters = {p: ({"purpose": p} if p else {}) for p in purposes}
    purpose_rows: list[dict[str, Any]] = [
        {
            "label": purpose_label(purpose) if purpose else gettext("No purpose"),
            "total": Figure(
                sum(by_day[purpose].values()),
                link({"access": reveal.value, **filters[purpose]}),
            ),
            "days": [
                Figure(
                    by_day[purpose].get(day, 0),
                    link({"access": reveal.value, **filters[purpose]}, day=day),
                )
                for day in days
            ],
        }
        for purpose in purposes
    ]
    totals = [sum(by_day[p].get(day, 0) for p in purposes) for day in days]
    labels = [formats.date_format(day, "MONTH_DAY_FORMAT") for day in days]
    chart = _chart(
        labels,
        [
            {
                "label": row["label"],
                "data": [figure.n for figure in row["days"]],
                "backgroundColor": PALETTE[index % len(PALETTE)],
                "maxBarThickness": 28,
            }
            for index, row in enumerate(purpose_rows)
        ],
        stacked=True,
    )
    roles = _by_role(tenant, period, link, reveal)
    role_chart = _chart(
        [row["label"] for row in roles],
        [
            {
                "label": gettext("Records revealed"),
                "data": [row["records"].n for row in roles],
                "backgroundColor": PALETTE[0],
                "maxBarThickness": 28,
            }
        ],
        stacked=False,
    )
    return {
        "total": Figure(sum(totals), link({"access": reveal.value})),
        # The chart's figures as a table: a row per day, a column per purpose.
        "day_rows": [
            {
                "label": label,
                "total": Figure(n, link({"access": reveal.value}, day=day)),
                "cells": [row["days"][index] for row in purpose_rows],
            }
            for index, (label, day, n) in enumerate(zip(labels, days, totals, strict=True))
        ],
        "purpose_rows": purpose_rows,
        "chart": chart,
        "role_rows": roles,
        "role_chart": role_chart,
        "top": _ranked(tenant, period, link, reveal, TOP_REVEALERS, "records"),
        "as_of": _as_of(tenant),
    }


def _by_role(
    tenant: Tenant, period: Period, link: _Links, kind: AccessKind
) -> list[dict[str, Any]]:
    """Records and events per role: a person's events count under each role held when
    they were rolled up (docs/decisions/0014), so the roles' figures may add up to more
    than the total; "No role" for tokens, the system and people without one."""
    records: dict[str, int] = defaultdict(int)
    events: dict[str, int] = defaultdict(int)
    rows = (
        _rows(tenant, period, kind)
        .values("roles")
        .annotate(records=Sum("records"), events=Sum("events"))
        .order_by()
    )
    for row in rows:
        for role in row["roles"].split(",") if row["roles"] else [NO_ROLE]:
            records[role] += int(row["records"])
            events[role] += int(row["events"])
    order = {value: index for index, value in enumerate(Role.values)}
    return [
        {
            "role": role,
            "label": role_label(role),
            # The log's role filter reads today's memberships; "No role" has no filter.
            "records": Figure(
                records[role],
                link({"access": kind.value, "role": role})
                if role
                else link({"access": kind.value}),
            ),
            "events": events[role],
        }
        for role in sorted(records, key=lambda r: (-records[r], order.get(r, len(order)), r))
    ]


def denied_panel(request: HttpRequest, tenant: Tenant, period: Period) -> dict[str, Any]:
    """The "Denied reveals" panel's context: refused reveals (attempts and records), the
    people refused most, and refused searches. Four queries at most."""
    denied = AccessKind.REVEAL_DENIED
    link = _Links(period)
    totals: Mapping[str, Any] = {
        row["kind"]: row
        for row in _rows(tenant, period, denied, AccessKind.SEARCH_DENIED, AccessKind.REVEAL_FAILED)
        .values("kind")
        .annotate(records=Sum("records"), events=Sum("events"))
        .order_by()
    }

    def figure(kind: AccessKind, what: str) -> Figure:
        row = totals.get(kind.value)
        return Figure(int(row[what]) if row else 0, link({"access": kind.value}))

    return {
        "attempts": figure(denied, "events"),
        "records": figure(denied, "records").n,
        "searches": figure(AccessKind.SEARCH_DENIED, "events"),
        "failed": figure(AccessKind.REVEAL_FAILED, "events"),
        "top": _ranked(tenant, period, link, denied, TOP_DENIED, "events"),
        "as_of": _as_of(tenant),
    }
