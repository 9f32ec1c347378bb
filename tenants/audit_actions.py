"""The audit actions tenants writes (through ``tenants.signals.tenant_change``, recorded by
``audits.receivers``), and the sign-in events ``audits.receivers`` records for it."""

from django.utils.translation import gettext_lazy as _

from core.audit_registry import AuditAction, AuditCategory

NAMESPACES = ("tenant", "user", "role", "api_token", "auth")

_SECURITY = AuditCategory.SECURITY

ACTIONS = [
    AuditAction("tenant.created", _("Tenant created"), _SECURITY),
    AuditAction(
        "tenant.settings_changed",
        _("Tenant settings changed"),
        _SECURITY,
        frozenset(
            {
                "fields",
                "time_zone",
                "send_pin_by_sms",
                "privacy_report_days",
                "training_grace_days",
            }
        ),
    ),
    AuditAction("user.created", _("Staff user created"), _SECURITY, frozenset({"fields"})),
    AuditAction("user.changed", _("Staff user changed"), _SECURITY, frozenset({"fields"})),
    AuditAction("user.password_changed", _("Password changed"), _SECURITY),
    AuditAction("user.deactivated", _("Staff user deactivated"), _SECURITY),
    AuditAction("user.sessions_ended", _("Sessions ended"), _SECURITY, frozenset({"sessions"})),
    AuditAction("role.granted", _("Role granted"), _SECURITY),
    AuditAction("role.revoked", _("Role revoked"), _SECURITY),
    AuditAction("api_token.issued", _("Integration token issued"), _SECURITY),
    AuditAction("api_token.revoked", _("Integration token revoked"), _SECURITY),
    AuditAction("auth.login_failed", _("Login failed"), _SECURITY, frozenset({"while_locked_out"})),
    AuditAction(
        "auth.locked_out",
        _("Login locked after wrong passwords"),
        _SECURITY,
        frozenset({"failure_limit", "cooloff_minutes"}),
    ),
    AuditAction(
        "auth.login_unlocked", _("Login unlocked"), _SECURITY, frozenset({"attempts_removed"})
    ),
    AuditAction("auth.two_factor_enrolled", _("Two-factor login set up"), _SECURITY),
    AuditAction(
        "auth.two_factor_reset",
        _("Two-factor login reset"),
        _SECURITY,
        frozenset({"devices_removed"}),
    ),
    AuditAction(
        "tenant.notification_channel_changed",
        _("Notification channel changed"),
        _SECURITY,
        frozenset({"channel", "url_changed", "secret_made"}),
    ),
]
