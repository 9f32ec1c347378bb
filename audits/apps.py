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
        # alerts (issue 20): the anomalous-access rules, their notification, the signals they
        # read (token networks, list paging), the back office's panels.
        from audits import alert_tasks  # noqa: F401  (registers the Celery tasks)
        from audits.alert_evaluation import register_kinds
        from audits.alert_panels import register_alert_panels
        from audits.alert_rules import register_builtin_rules
        from audits.alert_signals import record_token_network, register_paged_list
        from tenants.signals import integration_token_used

        register_builtin_rules()
        register_kinds()
        integration_token_used.connect(record_token_network, dispatch_uid="audits.token_network")
        register_paged_list("admin:audits_auditevent_changelist")
        register_alert_panels()
