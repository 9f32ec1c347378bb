from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from privacy.backups import BackupError, find_backup, restore_backup, verify_backup
from privacy.ledger import (
    ledger_copy_entries,
    reconcile_ledger,
    record_restore,
    replay_entries,
    replay_erasures,
    restore_ledger_problem,
)
from privacy.ledger_file import ledger_exists

REASON_LIMIT = 300


class Command(BaseCommand):
    help = (
        "Restore backups (a main-database backup and/or a key-store backup), then replay every "
        "erasure of the ledger kept beside the backups, so no erased customer comes back. Stop "
        "the web server and workers first; start them again after this succeeds. Refuses, "
        "restoring nothing, when the erasure ledger is missing, altered or shorter than a "
        "backup's manifest says, unless --accept-erasure-loss names why (audited)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--main", metavar="ID", help="the main-database backup to restore")
        parser.add_argument("--keystore", metavar="ID", help="the key-store backup to restore")
        parser.add_argument(
            "--accept-erasure-loss",
            metavar="REASON",
            dest="accept_loss",
            help=(
                "restore although the erasure ledger is missing or incomplete: erasures it "
                "lacks may come back. Replays what the ledger and the backups' ledger copies "
                "still hold; the reason is recorded in every tenant's audit log"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        chosen = [(kind, options[kind]) for kind in ("main", "keystore") if options[kind]]
        if not chosen:
            raise CommandError("Name at least one backup: --main ID and/or --keystore ID.")
        accept = (options["accept_loss"] or "").strip()
        if options["accept_loss"] is not None and (
            not accept or len(accept) > REASON_LIMIT or "\x00" in accept
        ):
            raise CommandError(
                f"--accept-erasure-loss needs a reason of 1 to {REASON_LIMIT} characters."
            )
        try:
            # Every file and the ledger are checked before anything is touched.
            manifests = [find_backup(backup_id, kind) for kind, backup_id in chosen]
            for manifest in manifests:
                verify_backup(manifest)
            copies = [ledger_copy_entries(m) or [] for m in manifests]
        except BackupError as error:
            raise CommandError(f"Nothing was restored: {error}.") from None
        self._reconcile_before()
        problem = restore_ledger_problem(manifests, copies)
        if problem and not accept:
            raise CommandError(
                f"Nothing was restored: {problem}. Erased customers could come back. Put the "
                "ledger back in BACKUP_DIR (erasure-ledger.jsonl and erasure-ledger.head, e.g. "
                "from a copy of the backups volume), or pass --accept-erasure-loss "
                '"<reason>" to restore anyway and replay only what the backups\' ledger copies '
                "hold."
            )
        restored, failure = [], None
        for manifest in manifests:
            try:
                restore_backup(manifest)
                restored.append(manifest)
                self.stdout.write(f"restored {manifest.id} ({manifest.kind})")
            except BackupError as error:
                failure = f"{manifest.id} ({manifest.kind}) failed: {error}"
                break
        replayed = 0
        if restored:
            # Whatever was restored, erased customers must not come back with it.
            extra = [entry for copy in copies for entry in copy]
            replayed = self._replay(extra, ledger_usable=problem is None)
        self.stdout.write(f"replayed {replayed} erasure(s) from the ledger")
        if restored:
            record_restore(restored, replayed=replayed, problem=problem, reason=accept)
        if failure:
            raise CommandError(
                f"Restore incomplete: {failure}. Erasures were replayed on what was restored; "
                "do not serve until both stores are restored."
            )
        if problem:
            self.stderr.write(
                f"Restored with erasures possibly lost, as accepted ({accept!r}): {problem}."
            )
        self.stdout.write("the system may serve again.")

    def _reconcile_before(self) -> None:
        """The databases about to be replaced know every committed erasure: the file ledger
        gets any it lacks first (best effort: a broken database is why one restores). A
        missing ledger is not started afresh here: the check below refuses it."""
        if not ledger_exists():
            return
        try:
            result = reconcile_ledger()
        except Exception as error:  # noqa: BLE001 (reported; the checks below decide)
            self.stderr.write(f"could not reconcile the ledger first: {type(error).__name__}")
            return
        if result.appended or result.finished:
            self.stdout.write(
                f"ledger reconciled first: {result.appended} entries appended, "
                f"{result.finished} interrupted erasures finished"
            )

    def _replay(self, extra: list[dict], *, ledger_usable: bool) -> int:
        if ledger_usable:
            return replay_erasures(extra)
        replayed = replay_entries(extra)
        try:
            # A missing ledger starts afresh from the restored database's entries.
            reconcile_ledger()
        except BackupError as error:
            self.stderr.write(
                f"The erasure ledger in BACKUP_DIR is damaged ({error}): move it aside so "
                "that a new one is started, or erasures will be refused."
            )
        return replayed
