"""privacy's anchor sinks for the audit chain (issue 20, point 5; audits.anchor_sinks):
the tenant's chain-head anchors are also written to the backup location and beside the
erasure ledger, which leave the host with the backups volume and outlive the database.
Registered from privacy's ``ready()``; audits never imports this module."""

from __future__ import annotations

from pathlib import Path

from django.utils.translation import gettext_lazy as _

from audits.anchor_sinks import JsonLinesSink, register_anchor_sink
from privacy.backup_store import backup_dir
from privacy.ledger_file import ledger_folder, ledger_lock

BACKUP_ANCHORS = "audit-anchors"
LEDGER_ANCHORS = "erasure-ledger.anchors"


def _backup_folder() -> Path:
    return backup_dir() / BACKUP_ANCHORS


def _ledger_side_folder() -> Path:
    return ledger_folder() / LEDGER_ANCHORS


BACKUP_SINK = JsonLinesSink("backups", _("Backup location"), folder=_backup_folder)
# Written under the erasure ledger's writer lock: one writer on the ledger's side at a time.
LEDGER_SINK = JsonLinesSink(
    "ledger", _("Erasure ledger side"), folder=_ledger_side_folder, lock=ledger_lock
)


def register_sinks() -> None:
    register_anchor_sink(BACKUP_SINK)
    register_anchor_sink(LEDGER_SINK)
