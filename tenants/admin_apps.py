"""The admin app with Baomi's admin site (no model imports here: loaded with the registry)."""

from django.contrib.admin.apps import AdminConfig


class BaomiAdminConfig(AdminConfig):
    default_site = "tenants.admin_site.BaomiAdminSite"
