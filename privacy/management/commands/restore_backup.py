from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from privacy.backups import BackupError, find_backup, restore_backup, verify_backup
from privacy.erasure import replay_erasures


class Command(BaseCommand):
    help = (
        "Restore backups (a main-database backup and/or a key-store backup), then replay every "
        "erasure of the ledger kept beside the backups, so no erased customer comes back. Stop "
        "the web server and workers first; start them again after this succeeds."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--main", metavar="ID", help="the main-database backup to restore")
        parser.add_argument("--keystore", metavar="ID", help="the key-store backup to restore")

    def handle(self, *args: Any, **options: Any) -> None:
        chosen = [(kind, options[kind]) for kind in ("main", "keystore") if options[kind]]
        if not chosen:
            raise CommandError("Name at least one backup: --main ID and/or --keystore ID.")
        try:
            manifests = [find_backup(backup_id, kind) for kind, backup_id in chosen]
            for manifest in manifests:  # every file is checked before anything is touched
                verify_backup(manifest)
            for manifest in manifests:
                restore_backup(manifest)
                self.stdout.write(f"restored {manifest.id} ({manifest.kind})")
        except BackupError as error:
            raise CommandError(f"Nothing was restored: {error}.") from None
        replayed = replay_erasures()
        self.stdout.write(
            f"replayed {replayed} erasure(s) from the ledger; the system may serve again."
        )
