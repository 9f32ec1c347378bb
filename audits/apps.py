from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditsConfig(AppConfig):
    name = "audits"
    verbose_name = _("Audits and supervision")

    def ready(self) -> None:
        from core.audit_registry import register_app_actions

        register_app_actions(self)  # audits/audit_actions.py
        from audits import receivers
        from tenants.models import Role
        from tenants.roles import grant_permissions

        receivers.connect()
        # Reading the log is supervision; nobody may change it (the admin offers no edits).
        for role in (Role.SUPERVISOR, Role.PRIVACY_OFFICER):
            grant_permissions(role, "audits.view_auditevent")
        # violations (issue 20)
        from audits.violations import notices as violation_notices
        from audits.violations import reports as violation_reports
        from audits.violations.evidence import register_audit_event_kind

        register_audit_event_kind()  # evidence: an event of the tenant's audit log
        violation_notices.register_kinds()  # the person is told (tenants.notifications)
        violation_reports.register()  # dashboard panel, §6.3.1 indicator, evidence pack
