"""Audit actions of the supervision area 'inspections' (issue 20, point 3;
audits/inspections/). Details hold ids, clause numbers, results, dates and hashes: never
a note's text, never a customer's data."""

from django.utils.translation import gettext_lazy as _

from core.audit_registry import AuditAction, AuditCategory

# Supervision of the policy's execution: with the accounts and security machinery.
_CATEGORY = AuditCategory.SUPERVISION

ACTIONS: list[AuditAction] = [
    AuditAction(
        "inspections.planned",
        _("Inspection planned"),
        _CATEGORY,
        frozenset(
            {
                "inspection",
                "scope",
                "planned_for",
                "inspector",
                "recurrence",
                "items",
                "recurs_from",
            }
        ),
    ),
    AuditAction(
        "inspections.started", _("Inspection started"), _CATEGORY, frozenset({"inspection"})
    ),
    AuditAction(
        "inspections.finding_recorded",
        _("Inspection finding recorded"),
        _CATEGORY,
        frozenset(
            {"inspection", "item", "clause", "result", "evidence", "follow_up", "owner", "due_on"}
        ),
    ),
    AuditAction(
        "inspections.completed",
        _("Inspection completed"),
        _CATEGORY,
        frozenset({"inspection", "findings", "failed"}),
    ),
    AuditAction(
        "inspections.follow_up_closed",
        _("Inspection follow-up closed"),
        _CATEGORY,
        frozenset({"follow_up", "inspection", "clause", "overdue"}),
    ),
    AuditAction(
        "inspections.follow_up_overdue",
        _("Inspection follow-up overdue: owner and supervisors notified"),
        _CATEGORY,
        frozenset({"follow_up", "inspection", "clause", "owner", "due_on", "notified"}),
    ),
    AuditAction(
        "inspections.evidence_downloaded",
        _("Inspection evidence downloaded"),
        _CATEGORY,
        frozenset({"evidence", "finding", "inspection", "sha256"}),
    ),
]
