from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PrivacyConfig(AppConfig):
    name = "privacy"
    verbose_name = _("Privacy vault")

    def ready(self) -> None:
        from privacy import receivers
        from privacy.demo import seed_notice
        from privacy.models import DataSubject
        from privacy.registry import register
        from tenants.demo import register_demo_seeder
        from tenants.models import Role
        from tenants.roles import grant_permissions

        register(DataSubject, fields=DataSubject.ENCRYPTED_FIELDS, subject_id=lambda s: s.id)
        receivers.connect()
        register_demo_seeder(seed_notice)
        for role in (Role.TENANT_ADMIN, Role.PRIVACY_OFFICER):
            grant_permissions(role, "privacy.view_privacynotice", "privacy.add_privacynotice")
        grant_permissions(Role.PRIVACY_OFFICER, "privacy.view_datasubject")
