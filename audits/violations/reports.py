"""Violations on the supervisor dashboard (issue 20, point 4): the panel, the §6.3.1
compliance indicator and the evidence pack's section. Numbers, usernames, clauses and
amounts only: never a description, an answer or a customer's data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy, ngettext

from audits.compliance import Indicator, Status
from audits.models import (
    OPEN_VIOLATION_STATES,
    Sanction,
    SanctionKind,
    Violation,
    ViolationState,
)
from audits.pack_sections import PackFile, PackSection
from audits.panels import Period
from audits.violations.selectors import STALE_DAYS, repeat_offenders, with_repeat_count
from tenants.models import Tenant


def list_url(**params: str) -> str:
    query = urlencode({k: v for k, v in params.items() if v})
    return reverse("admin:audits_violation_changelist") + (f"?{query}" if query else "")


def _period(period: Period) -> dict[str, str]:
    return {"since": period.first_day.isoformat(), "until": period.last_day.isoformat()}


def active_violation_suspensions(tenant: Tenant) -> int:
    """Suspensions imposed by violations' sanctions and in force now (one query)."""
    now = timezone.now()
    return (
        Sanction.objects.filter(
            Q(suspension__ends_at__isnull=True) | Q(suspension__ends_at__gt=now),
            suspension__lifted_at__isnull=True,
            suspension__starts_at__lte=now,
        )
        .order_by()
        .count()
    )


def violations_panel(request: HttpRequest, tenant: Tenant, period: Period) -> dict[str, Any]:
    """The panel's context: open violations, sanctions decided in the period by kind,
    suspensions in force, repeat offenders; each number links to its filtered list."""
    open_count = Violation.objects.filter(state__in=OPEN_VIOLATION_STATES).count()
    by_kind = dict(
        Sanction.objects.filter(decided_at__gte=period.start, decided_at__lt=period.end)
        .order_by()
        .values_list("kind")
        .annotate(n=Count("pk"))
    )
    offenders = repeat_offenders(tenant).count()
    return {
        "open": open_count,
        "open_url": list_url(state="open"),
        "sanctions": [
            {
                "kind": kind.value,
                "label": kind.label,
                "n": by_kind.get(kind.value, 0),
                "url": list_url(sanction=kind.value, **_period(period)),
            }
            for kind in SanctionKind
        ],
        "suspensions": active_violation_suspensions(tenant),
        "suspensions_url": list_url(suspended="yes"),
        "repeat": offenders,
        "repeat_url": list_url(repeat="yes"),
        "list_url": list_url(),
    }


def handled_on_time(tenant: Tenant, period: Period) -> Indicator:
    """§6.3.1: every violation found is dealt with — no violation waits more than
    ``STALE_DAYS`` days for its sanction."""
    stale = Violation.objects.filter(
        state=ViolationState.RECORDED,
        recorded_at__lt=timezone.now() - timedelta(days=STALE_DAYS),
    ).count()
    if stale:
        return Indicator(
            Status.FAILING,
            ngettext(
                "%(n)d violation waiting over %(days)d days for a sanction",
                "%(n)d violations waiting over %(days)d days for a sanction",
                stale,
            )
            % {"n": stale, "days": STALE_DAYS},
            list_url(stale="yes"),
        )
    decided = Sanction.objects.filter(
        decided_at__gte=period.start, decided_at__lt=period.end
    ).count()
    return Indicator(
        Status.OK,
        ngettext(
            "%(n)d sanction decided in the period; none waiting too long",
            "%(n)d sanctions decided in the period; none waiting too long",
            decided,
        )
        % {"n": decided},
        list_url(**_period(period)),
    )


VIOLATION_HEADER = (
    "violation",
    "recorded_at",
    "occurred_on",
    "person",
    "clause",
    "severity",
    "state",
    "nth_in_12_months",
    "evidence",
    "decided_at",
    "closed_at",
    "compensation_cny",
)
SANCTION_HEADER = (
    "violation",
    "person",
    "clause",
    "sanction",
    "amount_cny",
    "until",
    "authority",
    "reference",
    "referred_on",
    "decided_at",
    "state",
)


def _iso(value: Any) -> str:
    return value.isoformat() if value is not None else ""


def _violation_rows(tenant: Tenant, period: Period) -> Iterator[list[Any]]:
    queryset = with_repeat_count(
        Violation.objects.filter(recorded_at__gte=period.start, recorded_at__lt=period.end)
        .select_related("person")
        .annotate(evidence_count=Count("evidence"))
    ).order_by("recorded_at", "pk")
    for v in queryset.iterator(chunk_size=500):
        yield [
            v.number,
            _iso(v.recorded_at),
            _iso(v.occurred_on),
            v.person.username,
            f"§{v.clause}",
            v.severity,
            v.state,
            v.nth,  # type: ignore[attr-defined]
            v.evidence_count,  # type: ignore[attr-defined]
            _iso(v.decided_at),
            _iso(v.closed_at),
            str(v.compensation_amount) if v.compensation_amount is not None else "",
        ]


def _sanction_rows(tenant: Tenant, period: Period) -> Iterator[list[Any]]:
    queryset = (
        Sanction.objects.filter(decided_at__gte=period.start, decided_at__lt=period.end)
        .select_related("violation__person")
        .order_by("decided_at", "pk")
    )
    for s in queryset.iterator(chunk_size=500):
        v = s.violation
        yield [
            v.number,
            v.person.username,
            f"§{v.clause}",
            s.kind,
            str(s.amount) if s.amount is not None else "",
            _iso(s.ends_on),
            s.authority,
            s.reference,
            _iso(s.referred_on),
            _iso(s.decided_at),
            v.state,
        ]


def violations_pack(tenant: Tenant, period: Period) -> PackSection:
    recorded = Violation.objects.filter(
        recorded_at__gte=period.start, recorded_at__lt=period.end
    ).count()
    decided = Sanction.objects.filter(
        decided_at__gte=period.start, decided_at__lt=period.end
    ).count()
    return PackSection(
        files=[
            PackFile("violations.csv", VIOLATION_HEADER, _violation_rows(tenant, period)),
            PackFile("sanctions.csv", SANCTION_HEADER, _sanction_rows(tenant, period)),
        ],
        summary=[
            (gettext_lazy("Violations recorded"), recorded),
            (gettext_lazy("Sanctions decided"), decided),
            (gettext_lazy("Repeat offenders (12 months)"), repeat_offenders(tenant).count()),
        ],
        notes=[
            gettext_lazy("People are named by username; descriptions and answers are not exported.")
        ],
    )


def register() -> None:
    """From audits' ``ready()``: the panel, the indicator and the pack section."""
    from audits.compliance import register_indicator
    from audits.pack_sections import register_pack_section
    from audits.panels import SUPERVISORS, register_panel

    register_panel(
        "audits.violations",
        title=gettext_lazy("Violations and sanctions"),
        roles=SUPERVISORS,
        order=70,
        template="audits/violations/panel.html",
        context=violations_panel,
    )
    register_indicator(
        "audits.violations_handled",
        clause="6.3.1",
        title=gettext_lazy("Violations dealt with"),
        order=631,
        compute=handled_on_time,
    )
    register_pack_section(
        "audits.violations",
        title=gettext_lazy("Violations and sanctions"),
        order=70,
        build=violations_pack,
    )
