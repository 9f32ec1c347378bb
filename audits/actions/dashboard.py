"""Audit actions of the supervision area 'dashboard' (issue 20): the supervisor dashboard
is itself audited — who looked, when, over which period (dates only, never what was shown)."""

from django.utils.translation import gettext_lazy as _

from core.audit_registry import AuditAction, AuditCategory

ACTIONS: list[AuditAction] = [
    AuditAction(
        "dashboard.viewed",
        _("Supervisor dashboard viewed"),
        AuditCategory.SECURITY,
        # The period's preset and its first and last local day (ISO dates); the keys of
        # the panels shown, and of those that could not be shown.
        frozenset({"preset", "since", "until", "panels", "failed"}),
    ),
]
