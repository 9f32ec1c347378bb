from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from privacy.backups import backup_dir, list_backups


class Command(BaseCommand):
    help = "List the backups in BACKUP_DIR with their manifests."

    def handle(self, *args: Any, **options: Any) -> None:
        backups = list_backups()
        if not backups:
            self.stdout.write(f"No backups in {backup_dir()}.")
        for m in backups:
            self.stdout.write(
                f"{m.id}  {m.kind:8} {m.created_at}  {m.size:>12} bytes  key v{m.key_version}  {m.engine}"
            )
