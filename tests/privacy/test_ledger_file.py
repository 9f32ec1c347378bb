"""The erasure ledger kept beside the backups: chained, signed at its head, one writer at a time."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
from django.utils import timezone

from privacy.backup_store import derived, ring
from privacy.ledger_file import (
    HEAD_FILE,
    LEDGER_FILE,
    BackupError,
    Checkpoint,
    LedgerLine,
    _body,
    _line_mac,
    _write_head,
    append_ledger_file,
    append_ledger_lines,
    backup_dir,
    ensure_ledger,
    read_ledger_file,
    read_ledger_tail,
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


# --- The line's form (2026-12-01) -------------------------------------------------------------
# A line is its body's canonical text with the MAC as its last member; lines written before
# hold the MAC among the sorted keys. Both are read, and an edit of either is caught.


def _old_form_lines(n: int) -> list[str]:
    """``n`` lines as the writer made them before 2026-12-01, chained from the start."""
    version = max(ring())
    key, previous, lines = derived(version, b"ledger"), "", []
    for _ in range(n):
        body = _body(
            LedgerLine(1, str(uuid.uuid4()), "ER-OLD", "retention", timezone.now()), version
        )
        previous = _line_mac(previous, body, key)
        lines.append(json.dumps({**body, "mac": previous}, sort_keys=True) + "\n")
    return lines


def _write_old_ledger(n: int) -> list[str]:
    lines = _old_form_lines(n)
    ensure_ledger()
    path = backup_dir() / LEDGER_FILE
    path.write_text("".join(lines))
    _write_head(n, json.loads(lines[-1])["mac"], path.stat().st_size)
    return [json.loads(line)["subject"] for line in lines]


def test_a_line_is_its_signed_text_with_the_mac_last() -> None:
    _append(1)
    line = (backup_dir() / LEDGER_FILE).read_text().rstrip("\n")
    text, mac = line.rsplit(',"mac":"', 1)
    assert mac.endswith('"}') and len(mac) == 66
    assert json.loads(text + "}") == {k: v for k, v in json.loads(line).items() if k != "mac"}
    assert text + "}" == json.dumps(json.loads(text + "}"), sort_keys=True, separators=(",", ":"))


def test_lines_of_the_older_form_still_read_and_the_new_ones_chain_after_them() -> None:
    old = _write_old_ledger(3)
    new = _append(2)
    assert [e["subject"] for e in read_ledger_file()] == old + new
    tail = read_ledger_tail(Checkpoint(0, 0, "", {}))
    assert tail is not None and [e["subject"] for e, _end in tail] == old + new


@pytest.mark.parametrize("form", ["new", "old"])
def test_an_edited_value_is_caught_in_either_form_by_the_full_and_the_tail_read(form: str) -> None:
    subjects = _write_old_ledger(2) if form == "old" else _append(2)
    path = backup_dir() / LEDGER_FILE
    path.write_text(path.read_text().replace(subjects[1], str(uuid.uuid4())))
    with pytest.raises(BackupError, match="line 2 failed authentication"):
        read_ledger_file()
    with pytest.raises(BackupError, match="line 2 failed authentication"):
        read_ledger_tail(Checkpoint(0, 0, "", {}))


def test_a_new_line_whose_mac_was_moved_or_respaced_is_read_by_its_body() -> None:
    """The MAC covers the body, not the spacing: a line re-serialised without changing a
    value still authenticates (by re-encoding), and an unreadable one is named as such."""
    subjects = _append(2)
    path = backup_dir() / LEDGER_FILE
    lines = path.read_text().splitlines()
    lines[0] = json.dumps(json.loads(lines[0]), sort_keys=True)
    path.write_text("\n".join(lines) + "\n")
    _write_head(2, json.loads(lines[1])["mac"], path.stat().st_size)
    assert [e["subject"] for e in read_ledger_file()] == subjects
    path.write_text("not json\n" + lines[1] + "\n")
    with pytest.raises(BackupError, match="line 1 is unreadable"):
        read_ledger_file()


@pytest.mark.parametrize("where", ["mac", "body"])
def test_a_character_beyond_ascii_is_an_alteration_not_a_crash(where: str) -> None:
    """The writer makes ASCII only; a MAC or a value given a non-ASCII character fails
    authentication (hmac.compare_digest would raise TypeError on such a MAC)."""
    _append(2)
    path = backup_dir() / LEDGER_FILE
    lines = path.read_text().splitlines()
    if where == "mac":
        lines[1] = lines[1][:-10] + "é" + lines[1][-9:]
    else:
        lines[1] = lines[1].replace("ER-TEST", "ER-TESTé", 1)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(BackupError, match="line 2 failed authentication"):
        read_ledger_file()
