from __future__ import annotations

import getpass
import sys
from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from tenants.actors import SystemActor
from tenants.management.base import TenantCommand
from tenants.management.errors import command_error
from tenants.models import Role, Tenant
from tenants.services import create_staff_user


class Command(TenantCommand):
    help = (
        "Create a user of a tenant with one or more roles. The password is read from "
        "standard input (one line), or asked for twice on a terminal."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--username", required=True)
        parser.add_argument(
            "--role",
            dest="roles",
            action="append",
            required=True,
            choices=Role.values,
            help="a role to grant; repeat for several",
        )
        parser.add_argument("--email", default="")

    def read_password(self) -> str:
        if sys.stdin.isatty():
            first = getpass.getpass("Password: ")
            if getpass.getpass("Password (again): ") != first:
                raise CommandError("The two passwords differ.")
            return first
        line = sys.stdin.readline()
        if not line:
            raise CommandError("No password on standard input.")
        return line.rstrip("\r\n")

    def handle_tenant(self, tenant: Tenant, *args: Any, **options: Any) -> None:
        password = self.read_password()
        if not password:
            raise CommandError("The password is empty.")
        try:
            user = create_staff_user(
                tenant=tenant,
                username=options["username"],
                password=password,
                roles=options["roles"],
                email=options["email"],
                actor=SystemActor("create-staff-user"),
            )
        except ValidationError as error:
            raise command_error(error) from None
        self.stdout.write(
            f"Created user {user.username!r} (id {user.pk}) in tenant {tenant.slug!r} "
            f"with roles {', '.join(sorted(options['roles']))}."
        )
