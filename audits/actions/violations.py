"""Audit actions of the supervision area 'violations' (issue 20): a violation recorded, its
evidence linked, the sanction decided, the person's answer, closing and withdrawal
(audits/violations/services.py). Details carry ids, codes and amounts, never text."""

from django.utils.translation import gettext_lazy as _

from core.audit_registry import AuditAction, AuditCategory

_SECURITY = AuditCategory.SECURITY

ACTIONS: list[AuditAction] = [
    AuditAction(
        "violations.recorded",
        _("Violation recorded"),
        _SECURITY,
        frozenset({"violation", "person", "clause", "severity"}),
    ),
    AuditAction(
        "violations.evidence_added",
        _("Evidence linked to a violation"),
        _SECURITY,
        frozenset({"violation", "kind", "object"}),
    ),
    AuditAction(
        "violations.sanction_decided",
        _("Sanction decided on a violation"),
        _SECURITY,
        frozenset(
            {"violation", "person", "sanctions", "fine", "suspensions", "compensation", "case"}
        ),
    ),
    AuditAction(
        "violations.answered",
        _("Violation answered by the person"),
        _SECURITY,
        frozenset({"violation", "stage"}),
    ),
    AuditAction(
        "violations.closed",
        _("Violation closed"),
        _SECURITY,
        frozenset({"violation", "from"}),
    ),
    AuditAction(
        "violations.withdrawn",
        _("Violation withdrawn"),
        _SECURITY,
        frozenset({"violation", "from", "lifted"}),
    ),
]
