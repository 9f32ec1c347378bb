from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError

from tenants.actors import SystemActor
from tenants.management.base import TenantCommand
from tenants.management.errors import command_error
from tenants.models import Tenant
from tenants.services import issue_api_token


class Command(TenantCommand):
    help = (
        "Create an integration token for a partner system of a tenant. The token is printed "
        "once and only its keyed hash is stored: keep it now."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--name", required=True, help="what the token is for")

    def handle_tenant(self, tenant: Tenant, *args: Any, **options: Any) -> None:
        try:
            token, raw = issue_api_token(
                tenant=tenant, name=options["name"], actor=SystemActor("create-api-token")
            )
        except ValidationError as error:
            raise command_error(error) from None
        self.stdout.write(raw)
        self.stderr.write(f"Token {token.name!r} (id {token.pk}) created; it is shown only now.")
