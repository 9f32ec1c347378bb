"""What incidents tells staff through the back office's notifications (tenants.notifications):
customer service when an order anomaly opens, the assignee when one is assigned to them, a
case's owner and the tenant's privacy officers when a legal clock is escalated or runs out.

Parameters are codes only (the order's and the case's codes, a kind's value): messages are
rendered in the reader's language, and hold no personal data."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from incidents.models import AnomalyKind, CaseReport, CaseReportKind, IncidentCase, OrderAnomaly
from tenants.models import Role, User
from tenants.notifications import notify, register_kind

ANOMALY_OPENED = "incidents.anomaly_opened"
ANOMALY_ASSIGNED = "incidents.anomaly_assigned"
CLOCK_ESCALATED = "incidents.case_clock_escalated"
CLOCK_OVERDUE = "incidents.case_clock_overdue"

# Who hears of a new anomaly: customer service (the tenant's channel too).
ANOMALY_ROLES = (Role.CUSTOMER_SERVICE,)
# Besides the case's owner, who hears of a clock running out.
CLOCK_ROLES = (Role.PRIVACY_OFFICER,)


def _label(choices: Any, value: str) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return value


def _drill(params: dict[str, Any]) -> str:
    return _(" (drill)") if params.get("drill") else ""


def _anomaly_opened(params: dict[str, Any]) -> str:
    return _("New order anomaly on %(order)s: %(kind)s") % {
        "order": params["order"],
        "kind": _label(AnomalyKind, params["kind"]),
    }


def _anomaly_assigned(params: dict[str, Any]) -> str:
    return _("Order anomaly on %(order)s assigned to you: %(kind)s") % {
        "order": params["order"],
        "kind": _label(AnomalyKind, params["kind"]),
    }


def _clock_escalated(params: dict[str, Any]) -> str:
    return _("Report clock running out on %(case)s%(drill)s: %(report)s") % {
        "case": params["case"],
        "drill": _drill(params),
        "report": _label(CaseReportKind, params["report"]),
    }


def _clock_overdue(params: dict[str, Any]) -> str:
    return _("Report overdue on %(case)s%(drill)s: %(report)s") % {
        "case": params["case"],
        "drill": _drill(params),
        "report": _label(CaseReportKind, params["report"]),
    }


def register_kinds() -> None:
    """From incidents' AppConfig.ready()."""
    register_kind(ANOMALY_OPENED, _anomaly_opened)
    register_kind(ANOMALY_ASSIGNED, _anomaly_assigned)
    register_kind(CLOCK_ESCALATED, _clock_escalated)
    register_kind(CLOCK_OVERDUE, _clock_overdue)


def anomaly_link(anomaly: OrderAnomaly) -> str:
    return reverse("admin:incidents_orderanomaly_change", args=[anomaly.pk])


def notify_anomaly_opened(anomaly: OrderAnomaly) -> None:
    """Customer service hears of a new anomaly (inside the report's transaction; the
    channel's delivery goes after the commit)."""
    notify(
        anomaly.tenant,
        roles=ANOMALY_ROLES,
        kind=ANOMALY_OPENED,
        params={"order": anomaly.order.code, "kind": str(anomaly.kind)},
        link=anomaly_link(anomaly),
        dedup_key=f"anomaly-opened:{anomaly.pk}",
    )


def notify_anomaly_assigned(anomaly: OrderAnomaly, assignee: User) -> None:
    notify(
        anomaly.tenant,
        users=[assignee],
        kind=ANOMALY_ASSIGNED,
        params={"order": anomaly.order.code, "kind": str(anomaly.kind)},
        link=anomaly_link(anomaly),
    )


def _owner_id(case: IncidentCase) -> int | None:
    kind, _sep, rest = case.opened_by.partition(":")
    return int(rest) if kind == "user" and rest.isascii() and rest.isdigit() else None


def notify_clock(report: CaseReport, *, overdue: bool) -> None:
    """The case's owner (who opened it) and the privacy officers, once per report and
    flag (the dedup key): the beat job running twice notifies once."""
    case = report.case
    owner = _owner_id(case)
    notify(
        case.tenant,
        users=[owner] if owner is not None else [],
        roles=CLOCK_ROLES,
        kind=CLOCK_OVERDUE if overdue else CLOCK_ESCALATED,
        params={"case": case.code, "report": str(report.kind), "drill": report.is_drill},
        link=reverse("admin:incidents_incidentcase_change", args=[case.pk]),
        dedup_key=f"case-clock-{'overdue' if overdue else 'escalated'}:{report.pk}",
    )
