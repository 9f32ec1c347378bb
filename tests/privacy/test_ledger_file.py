"""The erasure ledger kept beside the backups: chained, signed at its head, one writer at a time."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.utils import timezone

from privacy.ledger_file import (
    HEAD_FILE,
    LEDGER_FILE,
    BackupError,
    LedgerLine,
    append_ledger_file,
    append_ledger_lines,
    backup_dir,
    read_ledger_file,
)


def _append(n: int = 1) -> list[str]:
    subjects = [str(uuid.uuid4()) for _ in range(n)]
    for subject in subjects:
        append_ledger_file(
            tenant_id=1,
            subject_id=subject,
            reference="ER-TEST",
            reason="retention",
            erased_at=timezone.now(),
        )
    return subjects


def test_entries_read_back_in_order() -> None:
    subjects = _append(3)
    assert [e["subject"] for e in read_ledger_file()] == subjects


def test_a_batch_is_appended_in_order_after_earlier_lines() -> None:
    first = _append(2)
    batch = [str(uuid.uuid4()) for _ in range(3)]
    append_ledger_lines(
        [LedgerLine(1, subject, "ER-TEST", "retention", timezone.now()) for subject in batch]
    )
    assert [e["subject"] for e in read_ledger_file()] == first + batch


def test_an_append_refuses_to_extend_a_ledger_that_was_altered_behind_its_head() -> None:
    _append(2)
    path = backup_dir() / LEDGER_FILE
    path.write_text(path.read_text().splitlines(keepends=True)[0])  # a line cut off
    with pytest.raises(BackupError, match="does not match its signed head"):
        _append(1)


def test_cutting_off_the_newest_lines_is_detected() -> None:
    _append(3)
    path = backup_dir() / LEDGER_FILE
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:2]))
    with pytest.raises(BackupError, match="does not match its signed head"):
        read_ledger_file()


def test_deleting_the_ledger_is_detected() -> None:
    _append(1)
    (backup_dir() / LEDGER_FILE).unlink()
    with pytest.raises(BackupError, match="missing"):
        read_ledger_file()


def test_an_edited_line_is_detected() -> None:
    _append(2)
    path = backup_dir() / LEDGER_FILE
    path.write_text(path.read_text().replace("retention", "administrator", 1))
    with pytest.raises(BackupError, match="line 1 failed authentication"):
        read_ledger_file()


def test_concurrent_appends_keep_the_chain_intact() -> None:
    threads = [threading.Thread(target=_append, args=(5,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(read_ledger_file()), (backup_dir() / HEAD_FILE).exists()) == (40, True)


def test_a_crash_between_the_line_and_its_head_leaves_a_readable_ledger() -> None:
    _append(2)
    head = backup_dir() / HEAD_FILE
    saved = head.read_text()
    _append(1)
    head.write_text(saved)  # as if the process died after writing the line, before the head
    _append(1)
    assert len(read_ledger_file()) == 4
