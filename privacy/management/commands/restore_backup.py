from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from privacy.backups import (
    BackupError,
    check_ledger_covers,
    find_backup,
    restore_backup,
    verify_backup,
)
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
            # Every file and the ledger are checked before anything is touched.
            manifests = [find_backup(backup_id, kind) for kind, backup_id in chosen]
            for manifest in manifests:
                verify_backup(manifest)
            check_ledger_covers(manifests)
        except BackupError as error:
            raise CommandError(f"Nothing was restored: {error}.") from None
        restored, failure = [], None
        for manifest in manifests:
            try:
                restore_backup(manifest)
                restored.append(manifest)
                self.stdout.write(f"restored {manifest.id} ({manifest.kind})")
            except BackupError as error:
                failure = f"{manifest.id} ({manifest.kind}) failed: {error}"
                break
        # Whatever was restored, erased customers must not come back with it.
        replayed = replay_erasures() if restored else 0
        self.stdout.write(f"replayed {replayed} erasure(s) from the ledger")
        if failure:
            raise CommandError(
                f"Restore incomplete: {failure}. Erasures were replayed on what was restored; "
                "do not serve until both stores are restored."
            )
        self.stdout.write("the system may serve again.")
