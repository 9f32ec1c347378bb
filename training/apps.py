from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = _("Training")

    def ready(self) -> None:
        from core.audit_registry import register_app_actions

        register_app_actions(self)  # training/audit_actions.py
        # Drills (issue 19, point 6): the back office's list for those who handle them;
        # training.drills checks the roles again on every write.
        from tenants.roles import grant_permissions
        from training.drills import DRILL_MANAGERS

        for role in DRILL_MANAGERS:
            grant_permissions(role, "training.view_drill", "training.add_drill")
