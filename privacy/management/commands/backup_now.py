from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from privacy.backups import BackupError, create_backup, prune_backups


class Command(BaseCommand):
    help = "Write encrypted backups of the main database and the key store now (then prune)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--kind", choices=["main", "keystore", "all"], default="all")
        parser.add_argument("--no-prune", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        kinds = ["main", "keystore"] if options["kind"] == "all" else [options["kind"]]
        try:
            for kind in kinds:
                manifest = create_backup(kind)
                self.stdout.write(
                    f"{manifest.id} {kind} {manifest.size} bytes sha256={manifest.sha256}"
                )
            if not options["no_prune"]:
                for name in prune_backups():
                    self.stdout.write(f"pruned {name}")
        except BackupError as error:
            raise CommandError(str(error)) from None
