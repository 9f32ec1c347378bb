"""Audit actions of the supervision area 'anchoring' (issue 20, point 5): the audit chain's
anchors outside the database and its nightly verification (audits/anchoring.py,
audits/integrity.py). Details hold sequence numbers, counts, sink names and ids only."""

from django.utils.translation import gettext_lazy as _

from core.audit_registry import AuditAction, AuditCategory

ACTIONS: list[AuditAction] = [
    AuditAction(
        "anchors.sink_failed",
        _("Audit chain anchor not written to every place"),
        AuditCategory.SECURITY,
        frozenset({"sequence", "sinks", "written"}),
    ),
    AuditAction(
        "anchors.chain_verified",
        _("Audit chain verified intact"),
        AuditCategory.SECURITY,
        frozenset({"verification", "events", "anchors"}),
    ),
    AuditAction(
        "anchors.chain_broken",
        _("Audit chain verification found a break"),
        AuditCategory.SECURITY,
        frozenset({"verification", "events", "anchors", "anchors_failed", "sequence"}),
    ),
    AuditAction(
        "anchors.exported",
        _("Audit chain anchors exported"),
        AuditCategory.SECURITY,
        frozenset({"anchors", "via"}),
    ),
]
