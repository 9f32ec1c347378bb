from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = _("Tenants and staff")

    def ready(self) -> None:
        from core.audit_registry import register_app_actions

        register_app_actions(self)  # tenants/audit_actions.py
        from tenants import lookups, receivers, schema  # noqa: F401 - schema registers the token scheme
        from tenants.models import Role
        from tenants.roles import grant_permissions

        receivers.connect()
        from tenants import token_cache

        token_cache.connect()  # a saved token or tenant renews its credentials generation
        lookups.register()
        # A tenant administrator's daily work starts with the people and their roles:
        # /admin/ opens the users (tokens, settings and policies are in the sidebar).
        from tenants.landing import register_landing

        register_landing(
            Role.TENANT_ADMIN,
            "admin:tenants_user_changelist",
            _("Users and roles"),
            "group",
            primary=True,
        )
        # What each role may do with this app's models in the back office. Other apps
        # register theirs in their own ready(); tenants imports none of them.
        grant_permissions(
            Role.TENANT_ADMIN,
            "tenants.view_user",
            "tenants.add_user",
            "tenants.change_user",
            "tenants.view_membership",
            "tenants.add_membership",
            "tenants.change_membership",
            "tenants.delete_membership",
            "tenants.view_integrationtoken",
            "tenants.add_integrationtoken",
        )
        grant_permissions(Role.SUPERVISOR, "tenants.view_user", "tenants.view_membership")
