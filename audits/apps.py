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
        # evidence (issue 20): the evidence pack's task, known to every worker.
        from audits import evidence_tasks  # noqa: F401
