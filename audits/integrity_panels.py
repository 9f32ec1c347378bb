"""The audit chain's integrity on the supervisor dashboard (issue 20): the panel, the
compliance indicator (§6.1.2) and the evidence pack's section. Numbers, times, sequence
numbers and hashes only; registered from audits' ``ready()``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from audits.anchor_sinks import sink_labels
from audits.anchoring import read_anchors
from audits.compliance import Indicator, Status, register_indicator
from audits.integrity import runs_url
from audits.models import ChainAnchor, ChainVerification
from audits.pack_sections import PackFile, PackSection, register_pack_section
from audits.panels import SUPERVISORS, Period, register_panel
from tenants.models import Tenant

#: A verification older than this is overdue (the job runs nightly).
FRESH = timedelta(hours=26)


def _latest_verification(tenant: Tenant) -> ChainVerification | None:
    return ChainVerification.objects.filter(tenant=tenant).order_by("-started_at").first()


def _latest_anchor(tenant: Tenant) -> ChainAnchor | None:
    return ChainAnchor.objects.filter(tenant=tenant).order_by("-hour").first()


def integrity_panel(request: HttpRequest, tenant: Tenant, period: Period) -> Mapping[str, Any]:
    """The last verification of the tenant's chain and its last anchored head."""
    verification = _latest_verification(tenant)
    anchor = _latest_anchor(tenant)
    return {
        "verification": verification,
        "anchor": anchor,
        "anchor_sinks": sink_labels(list(anchor.sinks_written)) if anchor else [],
        "anchor_failed": sink_labels(list(anchor.sinks_failed)) if anchor else [],
        "runs_url": runs_url(),
        "broken_url": runs_url() + "?ok__exact=0",
        "anchors_url": reverse("admin:audits_chainanchor_changelist"),
    }


def chain_indicator(tenant: Tenant, period: Period) -> Indicator:
    """§6.1.2: the audit chain verified within a day and a night, intact."""
    verification = _latest_verification(tenant)
    if verification is None:
        return Indicator(
            Status.ATTENTION, _("The audit chain has not been verified yet."), runs_url()
        )
    hours = int((timezone.now() - verification.finished_at).total_seconds() // 3600)
    if not verification.ok:
        text = ngettext(
            "Audit chain verified %(hours)d hour ago: broken.",
            "Audit chain verified %(hours)d hours ago: broken.",
            hours,
        )
        return Indicator(Status.FAILING, text % {"hours": hours}, runs_url() + "?ok__exact=0")
    text = ngettext(
        "Audit chain verified %(hours)d hour ago, intact.",
        "Audit chain verified %(hours)d hours ago, intact.",
        hours,
    )
    fresh = timezone.now() - verification.finished_at <= FRESH
    return Indicator(Status.OK if fresh else Status.ATTENTION, text % {"hours": hours}, runs_url())


VERIFICATION_HEADER = (
    "started",
    "finished",
    "events_checked",
    "intact",
    "first_break",
    "anchors_checked",
    "anchors_failed",
)
ANCHOR_HEADER = (
    "hour",
    "anchored_at",
    "sequence",
    "hash",
    "mac",
    "key_version",
    "held_by",
)


def _verification_rows(tenant: Tenant, period: Period) -> Iterator[tuple[Any, ...]]:
    runs = ChainVerification.objects.filter(
        tenant=tenant, started_at__gte=period.start, started_at__lt=period.end
    ).order_by("started_at")
    for run in runs.iterator():
        yield (
            run.started_at.isoformat(),
            run.finished_at.isoformat(),
            run.events_checked,
            "yes" if run.ok else "no",
            run.first_break,
            run.anchors_checked,
            run.anchors_failed,
        )


def _anchors_of(tenant: Tenant, period: Period) -> tuple[list[dict[str, Any]], list[str]]:
    """The period's anchors as the sinks outside the database hold them (not the database's
    copy, which whoever could rewrite the log could rewrite too), and the problems met."""
    anchors, problems = read_anchors(tenant)
    start, end = period.start.astimezone(dt.UTC), period.end.astimezone(dt.UTC)
    chosen = []
    for anchor in anchors:
        try:
            hour = dt.datetime.fromisoformat(str(anchor.get("hour")))
        except ValueError:
            continue
        if start <= hour < end:
            chosen.append(anchor)
    return chosen, problems


def _anchor_rows(anchors: list[dict[str, Any]]) -> Iterator[tuple[Any, ...]]:
    for anchor in anchors:
        yield (
            anchor.get("hour"),
            anchor.get("anchored_at"),
            anchor.get("sequence"),
            anchor.get("hash"),
            anchor.get("mac"),
            anchor.get("v"),
            " ".join(anchor.get("sinks", [])),
        )


def chain_pack_section(tenant: Tenant, period: Period) -> PackSection:
    """The chain's verifications and anchors of the period, as CSV."""
    runs = ChainVerification.objects.filter(
        tenant=tenant, started_at__gte=period.start, started_at__lt=period.end
    )
    anchors, problems = _anchors_of(tenant, period)
    return PackSection(
        files=[
            PackFile(
                "audit-chain-verifications.csv",
                VERIFICATION_HEADER,
                _verification_rows(tenant, period),
            ),
            PackFile("audit-chain-anchors.csv", ANCHOR_HEADER, _anchor_rows(anchors)),
        ],
        summary=[
            (_("Chain verifications"), runs.count()),
            (_("Verifications that found a break"), runs.filter(ok=False).count()),
            (_("Anchors of the chain head"), len(anchors)),
        ],
        notes=[
            _(
                "Each anchor's MAC is keyed outside the database; the anchors themselves are "
                "kept at the backup location and beside the erasure ledger "
                "(export_audit_anchors)."
            ),
            *problems,
        ],
    )


def register() -> None:
    register_panel(
        "audits.integrity",
        title=_("Audit chain integrity"),
        roles=SUPERVISORS,
        order=70,
        template="audits/panels/integrity.html",
        context=integrity_panel,
    )
    register_indicator(
        "audits.chain_verified",
        clause="6.1.2",
        title=_("Audit log verified and intact"),
        order=10,
        compute=chain_indicator,
    )
    register_pack_section(
        "audits.chain",
        title=_("Audit chain verification and anchors"),
        order=90,
        build=chain_pack_section,
    )
