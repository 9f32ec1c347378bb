from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tenants.selectors import tenant_by_slug


class TenantCommand(BaseCommand):
    """Base of management commands that work on one tenant's data.

    Adds a required ``--tenant <slug>`` option and runs ``handle_tenant`` inside that
    tenant's scope, so the command's queries are isolated exactly like a request's.
    """

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--tenant", required=True, metavar="SLUG", help="the tenant's slug")

    def handle(self, *args: Any, **options: Any) -> str | None:
        slug = options.pop("tenant")
        tenant = tenant_by_slug(slug)
        if tenant is None:
            raise CommandError(f"No tenant with slug {slug!r}.")
        if not tenant.is_active:
            raise CommandError(f"Tenant {slug!r} is deactivated.")
        # Operators' scripts read English messages, whatever the site's default language.
        with tenant_scope(tenant), translation.override("en"):
            return self.handle_tenant(tenant, *args, **options)

    def handle_tenant(self, tenant: Tenant, *args: Any, **options: Any) -> str | None:
        raise NotImplementedError
