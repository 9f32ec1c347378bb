"""The audit actions incidents writes, and the code it wrote before the rename (legacy:
displayed with its label, never written again)."""

from django.utils.translation import gettext_lazy as _

from core.audit_registry import AuditAction, AuditCategory

NAMESPACES = ("incidents",)

_DETAILS = frozenset({"kind", "anomaly"})

ACTIONS = [
    AuditAction(
        "incidents.anomaly_reported",
        _("Order anomaly reported"),
        AuditCategory.INCIDENTS,
        _DETAILS,
    ),
    AuditAction(
        "incidents.anomaly_resolved",
        _("Order anomaly resolved"),
        AuditCategory.INCIDENTS,
        frozenset({"outcome", "anomaly"}),
    ),
    AuditAction(
        "order.anomaly_reported",
        _("Order anomaly reported"),
        AuditCategory.INCIDENTS,
        _DETAILS,
        legacy=True,
    ),
]

# --- Customers' privacy reports (§6.2) ---------------------------------------------------
_REPORT_MOVE = frozenset({"report", "from", "to"})
ACTIONS += [
    AuditAction(
        "incidents.privacy_report_received",
        _("Privacy report received from a customer"),
        AuditCategory.INCIDENTS,
        frozenset({"kind", "report"}),
    ),
    AuditAction(
        "incidents.privacy_report_moved",
        _("Privacy report status changed"),
        AuditCategory.INCIDENTS,
        _REPORT_MOVE,
    ),
    AuditAction(
        "incidents.privacy_report_answered",
        _("Privacy report answered"),
        AuditCategory.INCIDENTS,
        frozenset({"report"}),
    ),
    AuditAction(
        "incidents.privacy_report_closed",
        _("Privacy report closed"),
        AuditCategory.INCIDENTS,
        _REPORT_MOVE,
    ),
]

# --- Leak incident cases (issue 18, point 1) ---------------------------------------------
# ``case`` is the case's id; ``target`` an actor label (``user:<id>``, ``token:<id>``).

ACTIONS += [
    AuditAction(
        "incidents.case_opened",
        _("Incident case opened"),
        AuditCategory.INCIDENTS,
        frozenset({"case", "severity", "kind", "drill", "anomaly", "privacy_report"}),
    ),
    AuditAction(
        "incidents.case_moved",
        _("Incident case moved"),
        AuditCategory.INCIDENTS,
        frozenset({"case", "from_state", "to_state", "drill"}),
    ),
    AuditAction(
        "incidents.containment_done",
        _("Containment action taken"),
        AuditCategory.INCIDENTS,
        frozenset({"case", "containment", "target", "count", "drill"}),
    ),
]

# --- Legal clocks on cases (issue 18, point 2) -------------------------------------------
# ``report`` is the CaseReport's id, ``kind`` its kind; never the authority's reference.
_CLOCK = frozenset({"case", "report", "kind", "drill"})
ACTIONS += [
    AuditAction(
        "incidents.case_report_made",
        _("Incident report to an authority recorded"),
        AuditCategory.INCIDENTS,
        _CLOCK,
    ),
    AuditAction(
        "incidents.case_clock_escalated",
        _("Incident report clock escalated"),
        AuditCategory.INCIDENTS,
        _CLOCK,
    ),
]
ACTIONS += [
    AuditAction(
        "incidents.reporting_profile_set",
        _("Incident reporting profile set"),
        AuditCategory.INCIDENTS,
        frozenset({"jurisdiction", "critical_infrastructure"}),
    ),
]


# --- Containment, regrading, promotion of a privacy report (issue 18) ---------------------
ACTIONS += [
    AuditAction(
        "incidents.suspension_lifted",
        _("Suspension from dispatch lifted"),
        AuditCategory.INCIDENTS,
        frozenset({"case", "suspension", "target", "drill"}),
    ),
    AuditAction(
        "incidents.case_regraded",
        _("Incident case regraded"),
        AuditCategory.INCIDENTS,
        frozenset({"case", "from_severity", "to_severity", "fields", "drill"}),
    ),
    AuditAction(
        "incidents.key_rotation_started",
        _("Tenant key rotation started from an incident case"),
        AuditCategory.INCIDENTS,
        frozenset({"case", "version", "drill"}),
    ),
    AuditAction(
        "incidents.key_rotation_done",
        _("Tenant key rotation from an incident case done"),
        AuditCategory.INCIDENTS,
        frozenset({"case", "version", "drill"}),
    ),
]
