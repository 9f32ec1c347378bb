"""Audit actions of the supervision area 'violations' (issue 20): a violation recorded, its
evidence linked, the sanction decided, the person's answer, closing and withdrawal
(audits/violations/services.py). Details carry ids, codes and amounts, never text."""

from django.utils.translation import gettext_lazy as _

from core.audit_registry import AuditAction, AuditCategory

_SUPERVISION = AuditCategory.SUPERVISION

ACTIONS: list[AuditAction] = [
    AuditAction(
        "violations.recorded",
        _("Violation recorded"),
        _SUPERVISION,
        frozenset({"violation", "person", "clause", "severity"}),
    ),
    AuditAction(
        "violations.evidence_added",
        _("Evidence linked to a violation"),
        _SUPERVISION,
        frozenset({"violation", "kind", "object"}),
    ),
    AuditAction(
        "violations.sanction_decided",
        _("Sanction decided on a violation"),
        _SUPERVISION,
        frozenset(
            {"violation", "person", "sanctions", "fine", "suspensions", "compensation", "case"}
        ),
    ),
    AuditAction(
        "violations.answered",
        _("Violation answered by the person"),
        _SUPERVISION,
        frozenset({"violation", "stage"}),
    ),
    AuditAction(
        "violations.closed",
        _("Violation closed"),
        _SUPERVISION,
        frozenset({"violation", "from"}),
    ),
    AuditAction(
        "violations.withdrawn",
        _("Violation withdrawn"),
        _SUPERVISION,
        frozenset({"violation", "from", "lifted"}),
    ),
]
