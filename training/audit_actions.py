"""The audit actions training writes."""

from django.utils.translation import gettext_lazy as _

from core.audit_registry import AuditAction, AuditCategory

NAMESPACES = ("training",)

_SECURITY = AuditCategory.SECURITY

ACTIONS = [
    AuditAction(
        "training.course_created", _("Course created"), _SECURITY, frozenset({"code", "roles"})
    ),
    AuditAction(
        "training.course_published",
        _("Course version published"),
        _SECURITY,
        frozenset({"course", "version"}),
    ),
    AuditAction(
        "training.attempt_started",
        _("Quiz attempt started"),
        _SECURITY,
        frozenset({"course", "version"}),
    ),
    AuditAction(
        "training.attempt_submitted",
        _("Quiz attempt submitted"),
        _SECURITY,
        frozenset({"course", "version", "score", "total", "passed"}),
    ),
    AuditAction(
        "training.pledge_published",
        _("Confidentiality pledge published"),
        _SECURITY,
        frozenset({"version"}),
    ),
    AuditAction(
        "training.pledge_signed",
        _("Confidentiality pledge signed"),
        _SECURITY,
        frozenset({"version", "language"}),
    ),
]
