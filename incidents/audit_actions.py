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
