"""The supervisor dashboard's alert panels (audits.panels): the live alerts by state and by
rule with the newest few, and the period's reveals outside working hours, a shift or an
assignment. Counts come from the alerts' own tables (indexed by tenant and state, and by
the linked events), never a scan of the log; every number links to the filtered alert list."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from audits.alert_rules import (
    REVEAL_OUTSIDE_HOURS,
    REVEAL_OUTSIDE_SHIFT,
    REVEAL_UNASSIGNED,
    rule_label,
)
from audits.compliance import Indicator, Status, register_indicator
from audits.models import LIVE_ALERT_STATES, AccessAlert, AccessAlertEvent, AlertState
from audits.panels import SUPERVISORS, Period, register_panel
from audits.violations.evidence import EvidenceTarget, register_evidence_kind
from core.ids import parse_id
from tenants.models import Tenant

NEWEST = 5
#: The rules whose events the "outside" panel counts.
OUTSIDE_RULES = (REVEAL_OUTSIDE_HOURS, REVEAL_OUTSIDE_SHIFT, REVEAL_UNASSIGNED)


def alert_list_url(**params: str) -> str:
    """The back office's alert list, filtered by ``params`` (state, rule, user, since, until)."""
    query = urlencode({k: v for k, v in params.items() if v})
    base = reverse("admin:audits_accessalert_changelist")
    return f"{base}?{query}" if query else base


def alerts_panel(request: HttpRequest, tenant: Tenant, period: Period) -> dict[str, Any]:
    """Live alerts now (not a period's count: ``period`` is not used): by state, by rule,
    and the newest few. Three queries."""
    live = AccessAlert.objects.filter(tenant=tenant, state__in=LIVE_ALERT_STATES)
    by_state = dict(live.values_list("state").annotate(n=Count("pk")).order_by())
    by_rule = dict(live.values_list("rule").annotate(n=Count("pk")).order_by())
    newest = list(live.select_related("user", "token").order_by("-last_seen_at", "-pk")[:NEWEST])
    return {
        "states": [
            {
                "value": state.value,
                "label": state.label,
                "n": by_state.get(state.value, 0),
                "url": alert_list_url(state=state.value),
            }
            for state in LIVE_ALERT_STATES
        ],
        "rules": [
            {"code": code, "label": rule_label(code), "n": n, "url": alert_list_url(rule=code)}
            for code, n in sorted(by_rule.items(), key=lambda item: (-item[1], item[0]))
        ],
        "newest": [
            {
                "rule": rule_label(alert.rule),
                "person": _person(alert),
                "state": AlertState(alert.state).label,
                "last_seen_at": alert.last_seen_at,
                "url": reverse("admin:audits_accessalert_change", args=[alert.pk]),
            }
            for alert in newest
        ],
        "list_url": alert_list_url(),
    }


def _person(alert: AccessAlert) -> str:
    if alert.user is not None:
        return alert.user.username
    if alert.token is not None:
        return str(_("Integration token: %(name)s") % {"name": alert.token.name})
    return alert.person


def outside_panel(request: HttpRequest, tenant: Tenant, period: Period) -> dict[str, Any]:
    """The period's reveals that fired the "outside" rules (each event once per rule): one
    query over the alerts' links, by the event's time."""
    rows = dict(
        AccessAlertEvent.objects.filter(
            tenant=tenant,
            alert__rule__in=OUTSIDE_RULES,
            event__occurred_at__gte=period.start,
            event__occurred_at__lt=period.end,
        )
        .values_list("alert__rule")
        .annotate(n=Count("event", distinct=True))
        .order_by()
    )
    log = reverse("admin:audits_auditevent_changelist")
    return {
        "counts": [
            {
                "code": code,
                "label": rule_label(code),
                "n": rows.get(code, 0),
                # The events counted, in the audit log (audits.access_admin.FlaggedFilter).
                "url": f"{log}?{urlencode({'flagged': code})}&{period.query()}",
            }
            for code in OUTSIDE_RULES
        ]
    }


#: An open alert older than this is flagged by the compliance summary (§6.1.2).
STALE_AFTER = timedelta(hours=24)


def stale_alerts(tenant: Tenant, period: Period) -> Indicator:
    """§6.1.2: alerts still open (not even acknowledged) 24 hours after they were raised.
    A state now (``period`` is not used); one indexed count."""
    n = AccessAlert.objects.filter(
        tenant=tenant, state=AlertState.OPEN, opened_at__lt=timezone.now() - STALE_AFTER
    ).count()
    return Indicator(
        Status.OK if n == 0 else Status.ATTENTION,
        ngettext("%(n)d alert open longer than 24 h", "%(n)d alerts open longer than 24 h", n)
        % {"n": n},
        alert_list_url(state=AlertState.OPEN.value, stale="yes"),
    )


def register_alert_panels() -> None:
    register_panel(
        "audits.alerts",
        title=_("Alerts"),
        roles=SUPERVISORS,
        order=20,
        template="audits/panels/alerts.html",
        context=alerts_panel,
    )
    register_panel(
        "audits.reveals_outside",
        title=_("Reveals outside working hours, a shift or an assignment"),
        roles=SUPERVISORS,
        order=21,
        template="audits/panels/reveals_outside.html",
        context=outside_panel,
    )
    register_indicator(
        "audits.alerts_handled",
        clause="6.1.2",
        title=_("Alerts handled within 24 hours"),
        order=612,
        compute=stale_alerts,
    )


# --- an alert as evidence of a violation (audits.violations.evidence) --------------------


def _resolve_alert(tenant: Tenant, object_id: str) -> EvidenceTarget | None:
    """An alert by its number (``12`` or ``#12``): "Alert #12: <rule>, <state>"."""
    number = parse_id(object_id.lstrip("#"))
    if number is None:
        return None
    alert = AccessAlert.objects.filter(pk=number, tenant_id=tenant.pk).first()
    if alert is None:
        return None
    return EvidenceTarget(
        gettext("Alert #%(id)d: %(rule)s, %(state)s")
        % {"id": alert.pk, "rule": rule_label(alert.rule), "state": alert.get_state_display()},
        reverse("admin:audits_accessalert_change", args=[alert.pk]),
    )


def register_alert_evidence() -> None:
    register_evidence_kind("alert", _("Anomalous-access alert"), _resolve_alert)
