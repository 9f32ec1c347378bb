from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from privacy.backups import BackupError, find_backup, verify_backup


class Command(BaseCommand):
    help = "Check a backup file against its manifest and authenticate every chunk."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("backup_id", help="an id that list_backups shows")
        parser.add_argument("--kind", choices=["main", "keystore"], default="main")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            manifest = find_backup(options["backup_id"], options["kind"])
            size = verify_backup(manifest)
        except BackupError as error:
            raise CommandError(f"Backup {options['backup_id']} is not usable: {error}.") from None
        self.stdout.write(f"{manifest.id} {manifest.kind}: intact ({size} bytes of data).")
