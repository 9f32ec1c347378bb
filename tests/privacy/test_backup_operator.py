"""What an operator sees: a wrong backup key named as such, backups that cannot be opened
listed with the reason, ill-formed ids refused before any file is opened, private files,
and pruning by day, week and month with key-store backups kept for a bounded window."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import stat

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from privacy.backups import (
    BackupError,
    Manifest,
    WrongBackupKey,
    backup_dir,
    create_backup,
    find_backup,
    list_backups,
    prune_backups,
    verify_backup,
)
from tests.factories import OrderFactory

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="backup tests run on PostgreSQL"),
    pytest.mark.django_db(databases="__all__"),
]
NEEDS_V1 = "no key in the ring opens this backup (it needs key version 1)"


@pytest.fixture
def backup() -> Manifest:
    OrderFactory()
    return create_backup("main")


def test_a_wrong_backup_key_is_named_as_such_not_as_an_alteration(backup: Manifest) -> None:
    settings.BAOMI_BACKUP_KEY_RING = {1: os.urandom(32)}
    with pytest.raises(CommandError) as refused:
        call_command("verify_backup", backup.id)
    assert str(refused.value) == f"Backup {backup.id} is not usable: {NEEDS_V1}."


def test_a_ring_without_the_backups_key_version_is_named(backup: Manifest) -> None:
    settings.BAOMI_BACKUP_KEY_RING = {2: os.urandom(32)}
    with pytest.raises(WrongBackupKey, match="it needs key version 1"):
        find_backup(backup.id, "main")


def test_restore_with_a_wrong_key_restores_nothing_and_says_why(backup: Manifest) -> None:
    settings.BAOMI_BACKUP_KEY_RING = {1: os.urandom(32)}
    with pytest.raises(CommandError, match=re.escape(f"Nothing was restored: {NEEDS_V1}.")):
        call_command("restore_backup", "--main", backup.id)


def test_an_altered_manifest_is_still_called_altered(backup: Manifest) -> None:
    path = backup.path.with_suffix(".json")
    path.write_text(
        path.read_text().replace(f'"size": {backup.size}', f'"size": {backup.size + 1}')
    )
    with pytest.raises(BackupError, match="failed authentication: it was altered"):
        find_backup(backup.id, "main")


def test_list_backups_shows_backups_it_cannot_open_with_the_reason(backup: Manifest) -> None:
    settings.BAOMI_BACKUP_KEY_RING = {1: os.urandom(32)}
    out = io.StringIO()
    call_command("list_backups", stdout=out)
    assert out.getvalue() == f"{backup.id}.main.json  cannot be opened: {NEEDS_V1}\n"


def test_list_backups_says_no_backups_only_when_there_are_none() -> None:
    out = io.StringIO()
    call_command("list_backups", stdout=out)
    assert out.getvalue() == f"No backups in {backup_dir()}.\n"


@pytest.mark.parametrize(
    "backup_id", ["../../x", "../../../etc/passwd", "20261129T031500Z-1a2b3c4d/../x", "x" * 300]
)
@pytest.mark.parametrize("command", ["verify_backup", "restore_backup"])
def test_ill_formed_backup_ids_are_refused_before_any_file_is_opened(
    command: str, backup_id: str
) -> None:
    args = [backup_id] if command == "verify_backup" else ["--main", backup_id]
    with pytest.raises(CommandError, match="is not a backup id \\(ids look like"):
        call_command(command, *args)


def test_every_backup_file_is_private(backup: Manifest) -> None:
    modes = {
        path.name: stat.S_IMODE(path.stat().st_mode)
        for path in backup_dir().iterdir()
        if path.name.startswith(backup.id)
    }
    assert set(modes.values()) == {0o600} and len(modes) == 3


def test_verify_refuses_a_backup_whose_ledger_copy_was_altered(backup: Manifest) -> None:
    data = bytearray(backup.ledger_path.read_bytes())
    data[-1] ^= 0x01
    backup.ledger_path.write_bytes(bytes(data))
    with pytest.raises(BackupError, match=r"\.main\.ledger does not match its manifest"):
        verify_backup(backup)


def _made(backup: Manifest, when: dt.datetime) -> Manifest:
    """The backup as if made at ``when`` (its manifest rewritten and signed again)."""
    from privacy.backups import _write_manifest

    moved = Manifest(**{**backup.__dict__, "created_at": when.isoformat()})
    _write_manifest(moved)
    return moved


def test_pruning_keeps_the_newest_of_each_day_week_and_month() -> None:
    OrderFactory()
    settings.BACKUP_KEEP_DAILY, settings.BACKUP_KEEP_WEEKLY, settings.BACKUP_KEEP_MONTHLY = 2, 2, 3
    now = timezone.now()
    ages = [0, 1, 2, 9, 16, 40, 75, 200]  # days
    made = {age: _made(create_backup("main"), now - dt.timedelta(days=age)) for age in ages}
    prune_backups(now=now)
    kept = sorted(age for age, m in made.items() if any(b.id == m.id for b in list_backups()))
    # daily: 0, 1; weekly: this week's and the next older week's newest; monthly: 3 months.
    expected = sorted(
        {0, 1}
        | {a for a in ages if a in _newest_per(now, ages, "week")[:2]}
        | {a for a in ages if a in _newest_per(now, ages, "month")[:3]}
    )
    assert kept == expected


def _newest_per(now: dt.datetime, ages: list[int], period: str) -> list[int]:
    seen, newest = set(), []
    for age in sorted(ages):
        local = timezone.localtime(now - dt.timedelta(days=age))
        bucket = tuple(local.isocalendar()[:2]) if period == "week" else (local.year, local.month)
        if bucket not in seen:
            seen.add(bucket)
            newest.append(age)
    return newest


def test_key_store_backups_are_deleted_once_their_retention_has_passed() -> None:
    OrderFactory()
    settings.KEYSTORE_BACKUP_RETENTION_DAYS = 7
    now = timezone.now()
    young = _made(create_backup("keystore"), now - dt.timedelta(days=6, hours=23))
    old = _made(create_backup("keystore"), now - dt.timedelta(days=7))
    removed = prune_backups(now=now)
    assert (removed, [m.id for m in list_backups()]) == ([f"{old.id}.keystore"], [young.id])
    assert sorted(p.name for p in backup_dir().glob(f"{old.id}.*")) == []
