"""Audit actions of the supervision area 'evidence' (issue 20, point 6): evidence packs for a
PIPL art. 54 audit (audits.evidence_packs). ``pack`` is the pack's id; periods are local
dates; never a customer's data."""

from django.utils.translation import gettext_lazy as _

from core.audit_registry import AuditAction, AuditCategory

_SUPERVISION = AuditCategory.SUPERVISION

ACTIONS: list[AuditAction] = [
    AuditAction(
        "evidence.pack_requested",
        _("Evidence pack requested"),
        _SUPERVISION,
        frozenset({"pack", "start", "end"}),
    ),
    AuditAction(
        "evidence.pack_built",
        _("Evidence pack built"),
        _SUPERVISION,
        frozenset({"pack", "sections", "size", "sha256", "key"}),
    ),
    AuditAction(
        "evidence.pack_failed",
        _("Evidence pack failed"),
        _SUPERVISION,
        frozenset({"pack", "section", "error"}),
    ),
    AuditAction(
        "evidence.pack_downloaded",
        _("Evidence pack downloaded"),
        _SUPERVISION,
        frozenset({"pack", "sha256"}),
    ),
]
