"""What inspections contribute to supervision (registered from audits' AppConfig.ready()):
the dashboard's panel, the §6.1.1 compliance indicator and the evidence pack's section.
Numbers, dates, clause numbers, usernames and hashes: never a customer's data."""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Sequence
from typing import Any

from django.db.models import Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from audits.compliance import Indicator, Status
from audits.inspections.selectors import UPCOMING_DAYS, counts_of
from audits.inspections.services import local_today
from audits.models import Finding, FollowUp, FollowUpState, Inspection, InspectionItem
from audits.pack_sections import PackFile, PackSection
from audits.panels import Period
from audits.violations.evidence import EvidenceTarget, register_evidence_kind
from core.ids import parse_id
from tenants.models import Tenant
from tenants.scoping import tenant_scope

#: §6.1.1 asks for regular checks: none completed within this many days needs attention.
INSPECTION_INTERVAL_DAYS = 90
PANEL_TITLE = gettext_lazy("Inspections")
INDICATOR_TITLE = gettext_lazy("Regular inspections")
PACK_TITLE = gettext_lazy("Inspections and findings")


def inspections_url(**query: str) -> str:
    url = reverse("admin:audits_inspection_changelist")
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def follow_ups_url(**query: str) -> str:
    url = reverse("admin:audits_followup_changelist")
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def inspections_panel(request: HttpRequest, tenant: Tenant, period: Period) -> dict[str, Any]:
    """The dashboard panel: upcoming and overdue inspections, open and overdue follow-ups,
    each a link to its filtered list. A state now, not a period's count."""
    counts = counts_of(tenant)
    return {
        "counts": counts,
        "upcoming_days": UPCOMING_DAYS,
        "upcoming_url": inspections_url(overdue="upcoming"),
        "overdue_url": inspections_url(overdue="yes"),
        "open_follow_ups_url": follow_ups_url(state__exact=FollowUpState.OPEN.value),
        "overdue_follow_ups_url": follow_ups_url(overdue="yes"),
        "inspections_url": inspections_url(),
        "plan_url": reverse("admin:audits_inspection_add"),
    }


def inspection_indicator(tenant: Tenant, period: Period) -> Indicator:
    """§6.1.1: the last completed inspection's age; attention when none completed within
    ``INSPECTION_INTERVAL_DAYS``, failing while a follow-up is overdue."""
    counts = counts_of(tenant)
    if counts.last_completed is None:
        summary = _("No inspection completed yet")
        days = None
    else:
        last_day = timezone.localtime(counts.last_completed, tenant.zone).date()
        days = (local_today(tenant) - last_day).days
        summary = ngettext(
            "Last inspection %(n)d day ago", "Last inspection %(n)d days ago", days
        ) % {"n": days}
    if counts.overdue_follow_ups:
        summary += "; " + ngettext(
            "%(n)d follow-up overdue", "%(n)d follow-ups overdue", counts.overdue_follow_ups
        ) % {"n": counts.overdue_follow_ups}
        return Indicator(Status.FAILING, summary, follow_ups_url(overdue="yes"))
    if days is None or days > INSPECTION_INTERVAL_DAYS:
        return Indicator(Status.ATTENTION, summary, inspections_url())
    return Indicator(Status.OK, summary, inspections_url(state__exact="completed"))


def _in_period(period: Period) -> Q:
    return Q(planned_for__gte=period.first_day, planned_for__lte=period.last_day) | Q(
        completed_at__gte=period.start, completed_at__lt=period.end
    )


def _iso(value: datetime.datetime | None, tenant: Tenant) -> str:
    return timezone.localtime(value, tenant.zone).isoformat() if value else ""


def inspections_pack(tenant: Tenant, period: Period) -> PackSection:
    """inspections.csv, findings.csv and follow_ups.csv of the inspections planned or
    completed in ``period``. Staff's free texts (titles, notes, closing notes) stay out, as
    in every section: they could name someone; the CSVs say only whether there is a note."""
    with tenant_scope(tenant):
        inspections = list(
            Inspection.objects.filter(_in_period(period))
            .select_related("inspector")
            .order_by("planned_for", "pk")
        )
        ids = [i.pk for i in inspections]
        items = list(
            InspectionItem.objects.filter(inspection_id__in=ids)
            .prefetch_related("findings__recorded_by", "findings__evidence")
            .order_by("inspection_id", "position")
        )
        follow_ups = list(
            FollowUp.objects.filter(finding__item__inspection_id__in=ids)
            .select_related("owner", "done_by", "finding__item")
            .order_by("due_on", "pk")
        )
    today = local_today(tenant)
    findings: list[tuple[InspectionItem, Finding | None]] = []
    failed: dict[int, int] = {}
    for item in items:
        found = next(iter(item.findings.all()), None)
        findings.append((item, found))
        if found is not None and found.result == "fail":
            failed[item.inspection_id] = failed.get(item.inspection_id, 0) + 1
    counts: dict[int, int] = {}
    for item in items:
        counts[item.inspection_id] = counts.get(item.inspection_id, 0) + 1

    def inspection_rows() -> Iterator[Sequence[Any]]:
        for i in inspections:
            yield (
                i.pk,
                i.scope,
                i.planned_for.isoformat(),
                i.inspector.username,
                i.state,
                i.recurrence,
                _iso(i.started_at, tenant),
                _iso(i.completed_at, tenant),
                counts.get(i.pk, 0),
                failed.get(i.pk, 0),
            )

    def finding_rows() -> Iterator[Sequence[Any]]:
        for item, found in findings:
            yield (
                item.inspection_id,
                item.key,
                item.clause,
                item.kind,
                found.result if found else "",
                ("yes" if found.note else "no") if found else "",
                found.recorded_by.username if found else "",
                _iso(found.recorded_at, tenant) if found else "",
                ";".join(sorted(e.sha256 for e in found.evidence.all())) if found else "",
            )

    def follow_up_rows() -> Iterator[Sequence[Any]]:
        for f in follow_ups:
            yield (
                f.pk,
                f.finding.item.inspection_id,
                f.finding.item.key,
                f.finding.item.clause,
                f.owner.username,
                f.due_on.isoformat(),
                f.state,
                "yes" if f.state == FollowUpState.OPEN and f.due_on < today else "no",
                f.done_by.username if f.done_by else "",
                _iso(f.done_at, tenant),
                "yes" if f.done_note else "no",
            )

    recorded = sum(1 for _item, found in findings if found is not None)
    return PackSection(
        files=[
            PackFile(
                "inspections.csv",
                (
                    "inspection",
                    "scope",
                    "planned_for",
                    "inspector",
                    "state",
                    "recurrence",
                    "started_at",
                    "completed_at",
                    "items",
                    "failed",
                ),
                inspection_rows(),
            ),
            PackFile(
                "findings.csv",
                (
                    "inspection",
                    "item",
                    "clause",
                    "kind",
                    "result",
                    "has_note",
                    "recorded_by",
                    "recorded_at",
                    "evidence_sha256",
                ),
                finding_rows(),
            ),
            PackFile(
                "follow_ups.csv",
                (
                    "follow_up",
                    "inspection",
                    "item",
                    "clause",
                    "owner",
                    "due_on",
                    "state",
                    "overdue",
                    "closed_by",
                    "closed_at",
                    "has_closing_note",
                ),
                follow_up_rows(),
            ),
        ],
        summary=[
            (gettext_lazy("Inspections"), len(inspections)),
            (gettext_lazy("Findings recorded"), recorded),
            (gettext_lazy("Failed items"), sum(failed.values())),
            (gettext_lazy("Follow-ups"), len(follow_ups)),
        ],
    )


# --- a finding as evidence of a violation (audits.violations.evidence) ------------------


def _resolve_finding(tenant: Tenant, object_id: str) -> EvidenceTarget | None:
    """A finding by its number (``12`` or ``#12``): "Finding #12, §3.3.1: Fail (inspection
    #5)" — no staff-written title, the label is stored with the violation —, linking to its
    inspection's checklist."""
    number = parse_id(object_id.lstrip("#"))
    if number is None:
        return None
    finding = (
        Finding.objects.filter(pk=number, tenant_id=tenant.pk)
        .select_related("item__inspection")
        .first()
    )
    if finding is None:
        return None
    item = finding.item
    return EvidenceTarget(
        _("Finding #%(id)d, §%(clause)s: %(result)s (inspection #%(inspection)d)")
        % {
            "id": finding.pk,
            "clause": item.clause,
            "result": finding.get_result_display(),
            "inspection": item.inspection_id,
        },
        reverse("admin:audits_inspection_checklist", args=[item.inspection_id]),
    )


def register_finding_evidence() -> None:
    register_evidence_kind("finding", gettext_lazy("Inspection finding"), _resolve_finding)
