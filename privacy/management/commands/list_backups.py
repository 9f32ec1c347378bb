from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from privacy.backups import backup_dir, scan_backups


class Command(BaseCommand):
    help = (
        "List the backups in BACKUP_DIR with their manifests, and those that cannot be opened "
        "(a key missing from the backup key ring, an altered manifest) with the reason."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        backups, unreadable = scan_backups()
        if not backups and not unreadable:
            self.stdout.write(f"No backups in {backup_dir()}.")
        for m in backups:
            self.stdout.write(
                f"{m.id}  {m.kind:8} {m.created_at}  {m.size:>12} bytes  key v{m.key_version}  "
                f"{m.engine}  ledger {m.ledger_entries}"
            )
        for item in unreadable:
            self.stdout.write(f"{item.file}  cannot be opened: {item.problem}")
