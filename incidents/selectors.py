"""Reads of order anomalies: inside the tenant scope, for actors who may see them."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from incidents.models import OrderAnomaly, PrivacyReport, ReportStatus
from orders.desk import DeskQueue, DeskRow
from tenants.models import User


def open_anomalies(actor: User, limit: int) -> list[OrderAnomaly]:
    """The newest open anomalies of ``actor``'s tenant with their orders (one query); none
    for an actor who may not view anomalies."""
    if not actor.is_active or not actor.has_perm("incidents.view_orderanomaly"):
        return []
    return list(
        OrderAnomaly.objects.filter(resolved_at__isnull=True, order__tenant_id=actor.tenant_id)
        .select_related("order")
        .order_by("-reported_at")[:limit]
    )


def open_anomaly_count(actor: User) -> int:
    """How many anomalies of ``actor``'s tenant are open: one COUNT that the
    ``anomaly_open`` index (tenant, resolved_at, …) answers."""
    if not actor.is_active or not actor.has_perm("incidents.view_orderanomaly"):
        return 0
    return OrderAnomaly.objects.filter(tenant_id=actor.tenant_id, resolved_at__isnull=True).count()


#: A customer's privacy report waits for customer service until it is answered.
WAITING_REPORT = (ReportStatus.RECEIVED, ReportStatus.IN_PROGRESS)


def waiting_privacy_reports(actor: User, limit: int) -> list[PrivacyReport]:
    """The customers' privacy reports not yet answered, the nearest deadline first."""
    if not actor.is_active or not actor.has_perm("incidents.view_privacyreport"):
        return []
    return list(
        PrivacyReport.objects.filter(tenant_id=actor.tenant_id, status__in=WAITING_REPORT)
        .select_related("order")
        .order_by("due_at")[:limit]
    )


def waiting_privacy_report_rows(actor: User, limit: int) -> list[DeskRow]:
    """The order desk's "privacy reports waiting for an answer" list."""
    return [
        DeskRow(
            order=report.order,
            reason=(
                _("Overdue: %(kind)s") % {"kind": report.get_kind_display()}
                if report.is_overdue
                else report.get_kind_display()
            ),
            at=report.received_at,
        )
        for report in waiting_privacy_reports(actor, limit)
    ]


def desk_waiting_count(actor: User) -> int:
    """The desk's badge: open anomalies and unanswered privacy reports."""
    waiting = 0
    if actor.is_active and actor.has_perm("incidents.view_privacyreport"):
        waiting = PrivacyReport.objects.filter(
            tenant_id=actor.tenant_id, status__in=WAITING_REPORT
        ).count()
    return open_anomaly_count(actor) + waiting


def open_anomaly_rows(actor: User, limit: int) -> list[DeskRow]:
    """The order desk's "open anomalies" list (orders.desk)."""
    return [
        DeskRow(order=anomaly.order, reason=anomaly.get_kind_display(), at=anomaly.reported_at)
        for anomaly in open_anomalies(actor, limit)
    ]


OPEN_ANOMALIES_QUEUE = DeskQueue(
    key="open-anomalies",
    title=_("Orders with an open anomaly"),
    rows=open_anomaly_rows,
    more_url_name="admin:incidents_orderanomaly_changelist",
    more_query="?state=open",
    more_label=_("Open anomalies"),
)


WAITING_REPORTS_QUEUE = DeskQueue(
    key="privacy-reports",
    title=_("Customers' privacy reports waiting for an answer"),
    rows=waiting_privacy_report_rows,
    more_url_name="admin:incidents_privacyreport_changelist",
    more_query="?status__exact=received",
    more_label=_("Privacy reports"),
)
