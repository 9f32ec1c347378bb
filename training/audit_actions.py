"""The audit actions training writes."""

from django.utils.translation import gettext_lazy as _

from core.audit_registry import AuditAction, AuditCategory

NAMESPACES = ("training",)

ACTIONS: list[AuditAction] = []

# --- Drills (issue 19, point 6; training/drills.py) --------------------------------------
# ``drill`` is the drill's id, ``case`` the incident case's id; counts, never names.
ACTIONS += [
    AuditAction(
        "training.drill_planned",
        _("Drill planned"),
        AuditCategory.INCIDENTS,
        frozenset({"drill", "scenario", "roles", "participants"}),
    ),
    AuditAction(
        "training.drill_run",
        _("Drill run as an incident case"),
        AuditCategory.INCIDENTS,
        frozenset({"drill", "case", "case_code"}),
    ),
    AuditAction(
        "training.drill_closed",
        _("Drill closed with lessons learned"),
        AuditCategory.INCIDENTS,
        frozenset({"drill", "outcome", "case"}),
    ),
]
