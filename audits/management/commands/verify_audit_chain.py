from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audits.verification import verify_tenant_chain
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Recompute each tenant's audit hash chain and report the first broken link. "
        "Exits non-zero when a chain is broken."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--tenant", metavar="SLUG", help="verify only this tenant")

    def handle(self, *args: Any, **options: Any) -> None:
        tenants = Tenant.objects.order_by("pk")
        if options["tenant"]:
            tenants = tenants.filter(slug=options["tenant"])
            if not tenants.exists():
                raise CommandError(f"No tenant with slug {options['tenant']!r}.")
        broken = 0
        for tenant in tenants:
            started = time.perf_counter()
            count, chain_break = verify_tenant_chain(tenant)
            elapsed = time.perf_counter() - started
            if chain_break is None:
                self.stdout.write(f"{tenant.slug}: {count} events, chain intact ({elapsed:.2f}s)")
            else:
                broken += 1
                self.stderr.write(f"{tenant.slug}: BROKEN after {count} good events: {chain_break}")
        if broken:
            raise CommandError(f"{broken} tenant chain(s) broken.")
