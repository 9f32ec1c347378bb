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
        # access statistics (issue 20): the dashboard's reveals panels, read from the
        # roll-up the beat keeps (audits.access_rollups; docs/decisions/0014), the audit
        # list's "access" filter their numbers link to, and the roll-up's tasks.
        from audits import access_tasks  # noqa: F401  (registers the tasks on workers)
        from audits.access_panels import denied_panel, reveals_panel
        from audits.panels import SUPERVISORS, register_panel

        register_panel(
            "audits.reveals",
            title=_("Reveals"),
            roles=SUPERVISORS,
            order=10,
            template="audits/panels/reveals.html",
            context=reveals_panel,
        )
        register_panel(
            "audits.denied_reveals",
            title=_("Denied reveals"),
            roles=SUPERVISORS,
            order=11,
            template="audits/panels/denied_reveals.html",
            context=denied_panel,
        )
