"""The back office's training coverage page (issue 19, point 7) at /training/coverage/, in
the back office's frame (the admin site's login, second factor and sidebar): per role the
number of people in each state — each count a link to the filtered list — the per-person
list (usernames, roles, each requirement's state with its date), filters by role, state and
course, and the drills of the last 12 months (flagged under one). For supervisors, privacy
officers and tenant administrators; anyone else is refused (403, like the other role
pages of the back office). Every view is audited (``training.coverage_viewed``: the
filters and the number of people listed). Also the dashboard panel's context."""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from audits.panels import Period
from audits.services import record_event
from tenants.models import Role, Tenant, User
from tenants.roles import has_role
from training.coverage import (
    COVERAGE_VIEWERS,
    SHOWN_ORDER,
    Coverage,
    TenantCoverage,
    coverage_of,
)
from training.drills import DRILL_WINDOW, drill_flag, drills_last_12_months
from training.supervision import tenant_coverage

# The per-person list is cut here (the counts above it are always complete).
LIST_LIMIT = 500


def may_view_coverage(user: object, tenant: Tenant | None) -> bool:
    return (
        isinstance(user, User)
        and tenant is not None
        and user.tenant_id == tenant.pk
        and has_role(user, *COVERAGE_VIEWERS)
    )


def _link(**params: str) -> str:
    query = urlencode({k: v for k, v in params.items() if v})
    return reverse("training:coverage") + (f"?{query}" if query else "")


def _role_table(coverage: TenantCoverage) -> list[dict[str, Any]]:
    return [
        {
            "role": row.role,
            "label": row.label,
            "people": row.people,
            "people_url": _link(role=row.role),
            "counts": [
                {
                    "state": state.value,
                    "label": state.label,
                    "n": row.counts[state],
                    "url": _link(role=row.role, state=state.value),
                }
                for state in SHOWN_ORDER
            ],
        }
        for row in coverage.roles
    ]


def _choice(value: str | None, allowed: set[str]) -> str | None:
    return value if value in allowed else None


def coverage_page(request: HttpRequest) -> HttpResponse:
    tenant = getattr(request, "tenant", None)
    user = request.user
    if not may_view_coverage(user, tenant):
        raise PermissionDenied(
            _("Training coverage is for supervisors, privacy officers and tenant administrators.")
        )
    assert tenant is not None  # noqa: S101 - may_view_coverage checked it
    coverage = coverage_of(tenant, language=get_language() or "zh-hans")
    keys = {r.key for r in coverage.requirements}
    role = _choice(request.GET.get("role"), set(Role.values))
    state = _choice(request.GET.get("state"), {c.value for c in Coverage})
    course = _choice(request.GET.get("course"), keys)
    people = coverage.people_in(role=role, state=state, course=course)
    shown = [r for r in coverage.requirements if course is None or r.key == course]
    if role is not None:
        shown = [r for r in shown if role in r.roles]
    rows = [
        {
            "username": person.username,
            "roles": [Role(r).label for r in person.roles],
            "cells": [person.cells.get(r.key) for r in shown],
        }
        for person in people[:LIST_LIMIT]
    ]
    with transaction.atomic():
        record_event(
            tenant=tenant,
            actor=cast(User, user),
            action="training.coverage_viewed",
            details={
                "role": role or "",
                "state": state or "",
                "course": course or "",
                "people": len(people),
            },
        )
    context = {
        **admin.site.each_context(request),
        "title": _("Training coverage"),
        "role_table": _role_table(coverage),
        "states": [{"value": s.value, "label": s.label} for s in SHOWN_ORDER],
        "role_choices": [(r.role, r.label) for r in coverage.roles],
        "requirements": coverage.requirements,
        "shown": shown,
        "rows": rows,
        "total": len(people),
        "cut": len(people) > LIST_LIMIT,
        "limit": LIST_LIMIT,
        "selected": {"role": role or "", "state": state or "", "course": course or ""},
        "filtered": bool(role or state or course),
        "drills_held": drills_last_12_months(tenant),
        "drill_flagged": drill_flag(tenant),
    }
    response = TemplateResponse(request, "admin/training/coverage.html", context)
    response["Cache-Control"] = "no-store"
    return response


coverage_view = admin.site.admin_view(coverage_page)


def coverage_panel(request: HttpRequest, tenant: Tenant, period: Period) -> dict[str, Any]:
    """The supervisor dashboard's training panel (audits.panels): coverage per role, how
    many people are overdue or failed, and the drills of the last 12 months. Coverage is a
    state now, not a period's count: ``period`` is not used."""
    coverage = tenant_coverage(tenant)  # shared with the indicators (audits.shared_reads)
    overdue = coverage.people_in(state=Coverage.OVERDUE)
    failed = coverage.people_in(state=Coverage.FAILED)
    return {
        "role_table": _role_table(coverage),
        "states": [{"value": s.value, "label": s.label} for s in SHOWN_ORDER],
        "overdue": len(overdue),
        "overdue_url": _link(state=Coverage.OVERDUE.value),
        "failed": len(failed),
        "failed_url": _link(state=Coverage.FAILED.value),
        "drills_held": drills_last_12_months(tenant),
        "drill_flagged": drill_flag(tenant),
        "drill_window_days": DRILL_WINDOW.days,
        "coverage_url": reverse("training:coverage"),
    }
