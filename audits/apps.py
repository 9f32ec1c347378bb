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
        # dashboard (issue 20): the supervisor dashboard at /supervisor/, where a supervisor
        # lands at /admin/ (privacy officers and tenant administrators keep their own landing
        # page and find it in the sidebar), and its first panel, the compliance summary.
        from audits.dashboard import compliance_panel
        from audits.panels import SUPERVISORS, register_panel
        from tenants.landing import register_landing

        for role in SUPERVISORS:
            register_landing(
                role,
                "audits:dashboard",
                _("Supervisor dashboard"),
                "dashboard",
                primary=role == Role.SUPERVISOR,
            )
        register_panel(
            "audits.compliance",
            title=_("Compliance summary"),
            roles=SUPERVISORS,
            order=0,
            template="audits/panels/compliance.html",
            context=compliance_panel,
        )
