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
        frozenset({"case", "severity", "kind", "drill", "anomaly", "privacy_report", "alert"}),
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

# --- Investigation of cases (issue 18, point 1) ------------------------------------------
# ``item`` is the InvestigationItem's id, ``event`` the linked audit event's id, ``target``
# an actor label; ``evidence`` an EvidenceFile's id and ``sha256`` its plaintext's hash —
# never a finding's text, a file's name or its contents.
ACTIONS += [
    AuditAction(
        "incidents.investigation_added",
        _("Investigation item added to an incident case"),
        AuditCategory.INCIDENTS,
        frozenset({"case", "item", "kind", "event", "target", "drill"}),
    ),
    AuditAction(
        "incidents.evidence_added",
        _("Evidence file added to an incident case"),
        AuditCategory.INCIDENTS,
        frozenset({"case", "evidence", "size", "sha256", "drill"}),
    ),
    AuditAction(
        "incidents.evidence_downloaded",
        _("Evidence file downloaded"),
        AuditCategory.INCIDENTS,
        frozenset({"case", "evidence", "sha256", "drill"}),
    ),
    AuditAction(
        "incidents.evidence_check_failed",
        _("Evidence file failed its integrity check"),
        AuditCategory.INCIDENTS,
        frozenset({"case", "evidence", "drill"}),
    ),
]

# --- Affected customers, the customer notice, the regulator document (issue 18, 1 and 3) --
# Ids and counts only: ``customer`` is the AffectedCustomer's id, ``notice`` the notice's.
ACTIONS += [
    AuditAction(
        "incidents.affected_customers_added",
        _("Affected customers linked to an incident case"),
        AuditCategory.INCIDENTS,
        frozenset({"case", "count", "drill"}),
    ),
    AuditAction(
        "incidents.remedy_set",
        _("Remedy for an affected customer set"),
        AuditCategory.INCIDENTS,
        frozenset({"case", "customer", "remedy", "status", "apology"}),
    ),
    AuditAction(
        "incidents.notice_saved",
        _("Customer notice drafted"),
        AuditCategory.INCIDENTS,
        frozenset({"case", "notice"}),
    ),
    AuditAction(
        "incidents.notice_approved",
        _("Customer notice approved"),
        AuditCategory.INCIDENTS,
        frozenset({"case", "notice", "count", "drill"}),
    ),
    AuditAction(
        "incidents.notice_sent",
        _("Customer notice sent"),
        AuditCategory.INCIDENTS,
        frozenset({"case", "notice", "sent", "failed", "drill"}),
    ),
    AuditAction(
        "incidents.notice_retried",
        _("Failed customer notices retried"),
        AuditCategory.INCIDENTS,
        frozenset({"case", "notice", "count"}),
    ),
    AuditAction(
        "incidents.regulator_document_produced",
        _("Regulator document produced"),
        AuditCategory.INCIDENTS,
        frozenset({"case", "drill"}),
    ),
]

# --- Follow-up actions on anomalies (issue 18, point 4: incidents.anomaly_actions) -------
# Ids only: the anomaly, the new order; a correction names the fields, never a value.
ACTIONS += [
    AuditAction(
        "incidents.anomaly_customer_called",
        _("Customer called back through the relay about an anomaly"),
        AuditCategory.INCIDENTS,
        frozenset({"anomaly"}),
    ),
    AuditAction(
        "incidents.anomaly_information_corrected",
        _("Order information corrected for an anomaly"),
        AuditCategory.INCIDENTS,
        frozenset({"anomaly"}),
    ),
    AuditAction(
        "incidents.anomaly_remade",
        _("Lost or damaged order re-made"),
        AuditCategory.INCIDENTS,
        frozenset({"anomaly", "order"}),
    ),
]

# --- Order anomalies' workflow (issue 18, point 4) ---------------------------------------
# ``to`` is the assignee's actor label (``user:<id>``).
ACTIONS += [
    AuditAction(
        "incidents.anomaly_assigned",
        _("Order anomaly assigned"),
        AuditCategory.INCIDENTS,
        frozenset({"anomaly", "to"}),
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
        frozenset(
            {"case", "from_severity", "to_severity", "fields", "discovered_at", "due_at", "drill"}
        ),
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
