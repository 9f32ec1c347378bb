"""Audit actions of the supervision area 'alerts' (issue 20): anomalous-access alerts
(audits.alert_rules, audits.alerts) and the signals they are raised from."""

from django.utils.translation import gettext_lazy as _

from core.audit_registry import AuditAction, AuditCategory

_SECURITY = AuditCategory.SECURITY
_ACCESS = AuditCategory.PERSONAL_DATA_ACCESS
_SUPERVISION = AuditCategory.SUPERVISION

ACTIONS: list[AuditAction] = [
    # An alert's life. ``rule``: the rule's code; ``events``: how many events fired it.
    AuditAction(
        "alerts.opened", _("Alert raised"), _SUPERVISION, frozenset({"rule", "person", "events"})
    ),
    AuditAction("alerts.acknowledged", _("Alert acknowledged"), _SUPERVISION, frozenset({"rule"})),
    # The reason stays on the alert (a free text), never in the log.
    AuditAction("alerts.dismissed", _("Alert dismissed"), _SUPERVISION, frozenset({"rule"})),
    AuditAction(
        "alerts.promoted",
        _("Alert promoted to an incident case"),
        _SUPERVISION,
        frozenset({"rule", "case", "case_code"}),
    ),
    # ``fields``: the names of the thresholds changed.
    AuditAction(
        "alerts.settings_changed",
        _("Supervision thresholds changed"),
        _SUPERVISION,
        frozenset({"fields"}),
    ),
    # Signals the rules read. A page of an object that was not found, asked for by a signed-in
    # staff member: the URL's name (never the path, which can hold what was typed).
    AuditAction(
        "alerts.not_found_probe",
        _("Object not found (probe)"),
        _ACCESS,
        frozenset({"url_name"}),
    ),
    # ``network``: the /24 (IPv4) or /48 (IPv6) the token was used from; ``known``: how many
    # networks it was used from before.
    AuditAction(
        "alerts.token_new_network",
        _("Integration token used from a new network"),
        _SECURITY,
        frozenset({"network", "known"}),
    ),
    # ``list``: the list's URL name; ``pages`` within ``minutes``.
    AuditAction(
        "alerts.bulk_paging",
        _("Many list pages read"),
        _ACCESS,
        frozenset({"list", "pages", "minutes"}),
    ),
]
