from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audits.verification import verify_chain_with_anchors
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Recompute each tenant's audit hash chain, check it against the anchors kept outside "
        "the database, and report the first broken link and every anchor problem. Exits "
        "non-zero when a chain is broken or an anchor does not match."
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
            report = verify_chain_with_anchors(tenant)
            elapsed = time.perf_counter() - started
            count, chain_break, anchors = report.events, report.chain_break, report.anchors
            if chain_break is None:
                note = f"; {anchors.checked} anchors checked" if anchors.checked else ""
                self.stdout.write(
                    f"{tenant.slug}: {count} events, chain intact ({elapsed:.2f}s){note}"
                )
            else:
                self.stderr.write(f"{tenant.slug}: BROKEN after {count} good events: {chain_break}")
            for problem in anchors.problems:
                self.stderr.write(f"{tenant.slug}: ANCHOR: {problem}")
            if not report.ok:
                broken += 1
        if broken:
            raise CommandError(f"{broken} tenant chain(s) broken.")
