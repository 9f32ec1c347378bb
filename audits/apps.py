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
        # anchoring (issue 20): the chain heads' anchors outside the database (audits' own
        # local sink; privacy adds its sinks), the nightly verification's notification,
        # the dashboard's integrity panel, its compliance indicator and evidence-pack section.
        from audits import integrity_panels
        from audits.anchor_sinks import LOCAL_SINK, register_anchor_sink
        from audits.integrity import register_kinds
        from audits.panels import SUPERVISORS

        register_anchor_sink(LOCAL_SINK)
        register_kinds()
        integrity_panels.register()
        for role in SUPERVISORS:
            grant_permissions(role, "audits.view_chainanchor", "audits.view_chainverification")
