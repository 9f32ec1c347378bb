from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from privacy.backup_store import BackupError
from privacy.erasure import SWEEP_BATCH
from privacy.ledger import reconcile_ledger
from privacy.retention import sweep_tenant
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Erase the personal data of every subject past its tenant's retention period now."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--tenant", metavar="SLUG", help="only this tenant")
        parser.add_argument("--batch-size", type=int, default=SWEEP_BATCH)

    def handle(self, *args: Any, **options: Any) -> None:
        tenants = Tenant.objects.filter(is_active=True).order_by("pk")
        if options["tenant"]:
            tenants = tenants.filter(slug=options["tenant"])
            if not tenants.exists():
                raise CommandError(f"No active tenant with slug {options['tenant']!r}.")
        if not 1 <= options["batch_size"] <= 10000:
            raise CommandError("--batch-size must be between 1 and 10000.")
        try:
            # The file ledger first catches up with the database (docs/privacy.md).
            reconciled = reconcile_ledger(incremental=True)
            for tenant in tenants:
                erased = sweep_tenant(tenant, batch_size=options["batch_size"])
                self.stdout.write(f"{tenant.slug}: {erased} subjects erased")
        except BackupError as error:
            raise CommandError(f"The sweep stopped: {error}.") from None
        if reconciled.appended or reconciled.finished:
            self.stdout.write(
                f"ledger reconciled: {reconciled.appended} entries appended, "
                f"{reconciled.finished} interrupted erasures finished"
            )
