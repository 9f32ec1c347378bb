from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand
from django.utils import translation

from tenants.actors import SystemActor
from tenants.management.errors import command_error
from tenants.services import create_tenant


class Command(BaseCommand):
    help = "Create a tenant (a delivery company or restaurant group)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("slug", help="short identifier: lowercase letters, digits, hyphens")
        parser.add_argument("--name", required=True, help="the tenant's display name")

    def handle(self, *args: Any, **options: Any) -> None:
        # Operators' scripts read English messages, whatever the site's default language.
        with translation.override("en"):
            try:
                tenant = create_tenant(
                    slug=options["slug"], name=options["name"], actor=SystemActor("create-tenant")
                )
            except ValidationError as error:
                raise command_error(error) from None
        self.stdout.write(f"Created tenant {tenant.slug!r} (id {tenant.pk}).")
