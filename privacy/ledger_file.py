"""The erasure ledger's file copy, beside the backups: written ahead, chained, signed.

``erasure-ledger.jsonl`` holds one line per erasure *intent*: before a subject's key is
destroyed, its tenant, subject id, reference, reason and time are written here, flushed and
fsynced (``privacy.erasure.erase_subjects``). A restore replays every line, so a customer
erased after a backup was taken stays erased when that backup comes back — including one
whose erasure was interrupted (the intent says the subject was due or asked to be erased,
and the replay finishes it). Lines of kind ``reconciled`` are database-ledger entries that
the file lacked, appended by ``privacy.ledger.reconcile_ledger``.

Each line carries an HMAC over the previous line's MAC and its own body, under a key derived
from the backup key ring (version ``v``), so an edited, removed or reordered line breaks the
chain; ``erasure-ledger.head`` (signed) records the count, the last MAC and the file's size,
so lines cut off the end are caught too. One writer at a time, across processes, through an
``fcntl`` lock on ``erasure-ledger.lock``.

No personal data is written: subject ids, references and reasons only.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import hashlib
import hmac
import io
import json
import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from privacy.backup_store import (
    BackupError,
    backup_dir,
    check_file,
    decrypt_stream,
    derived,
    encrypt_to,
    ring,
    sync_folder,
    write_private,
)

LEDGER_FILE = "erasure-ledger.jsonl"
HEAD_FILE = "erasure-ledger.head"
LOCK_FILE = "erasure-ledger.lock"
CHECKPOINT_FILE = "erasure-ledger.reconciled"


class LedgerWriteError(BackupError):
    """The file ledger could not be written: the erasure must not go on."""


@dataclass(frozen=True)
class LedgerLine:
    tenant_id: int
    subject_id: str
    reference: str
    reason: str
    erased_at: dt.datetime
    kind: str = "intent"


@dataclass(frozen=True)
class LedgerSnapshot:
    """The ledger as of one moment: its entry count, last MAC and exact bytes."""

    count: int
    last: str
    data: bytes


def _ledger_path() -> Path:
    return backup_dir() / LEDGER_FILE


def _head_path() -> Path:
    return backup_dir() / HEAD_FILE


def _open_private(path: Path, flags: int) -> int:
    return os.open(path, flags | os.O_CREAT, 0o600)


@contextmanager
def _ledger_lock() -> Iterator[None]:
    """One writer at a time, across processes (sweep workers, web requests)."""
    fd = _open_private(backup_dir() / LOCK_FILE, os.O_WRONLY | os.O_APPEND)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# One encoder, built once (``json.dumps`` with options builds one per call): the same text as
# ``json.dumps(..., sort_keys=True, separators=(",", ":"))``, ASCII only.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
# A line is its body's canonical text with the MAC added as the last member: what was signed
# is the line up to ``,"mac":"`` plus the closing brace, so a reader authenticates those
# bytes and parses exactly them, with no second encoding. (Lines written before 2026-12-01
# hold the MAC among the body's sorted keys; they are read by re-encoding their body.)
_MAC_MEMBER = ',"mac":"'
_MAC_TAIL = len(_MAC_MEMBER) + 64 + 2  # ,"mac":"<64 hex>"}


def _canonical(body: dict[str, Any]) -> bytes:
    return _CANONICAL(body).encode()


def _line_mac(previous: str, body: dict[str, Any], key: bytes) -> str:
    return _text_mac(previous, _CANONICAL(body), key)


def _text_mac(previous: str, text: str, key: bytes) -> str:
    return hmac.digest(key, (previous + text).encode(), "sha256").hex()


def _line(previous: str, body: dict[str, Any], key: bytes) -> tuple[str, str]:
    """The line of ``body`` chained after the line whose MAC is ``previous`` (without its
    newline), and its MAC."""
    text = _CANONICAL(body)
    mac = _text_mac(previous, text, key)
    return f'{text[:-1]}{_MAC_MEMBER}{mac}"}}', mac


def _line_verifies(previous: str, body: dict[str, Any], mac: str, keys: dict[int, bytes]) -> bool:
    # Lines name the key version they were signed with; lines written before versions were
    # recorded are tried against every key of the ring.
    versions = [body["v"]] if isinstance(body.get("v"), int) else sorted(keys, reverse=True)
    return any(
        version in keys and hmac.compare_digest(mac, _line_mac(previous, body, keys[version]))
        for version in versions
    )


class _Unreadable(ValueError):
    pass


def _authenticated(line: str, previous: str, keys: dict[int, bytes]) -> dict[str, Any] | None:
    """The entry of ``line`` (its MAC under ``"mac"``) if it is authentic as the line after
    the one whose MAC is ``previous``, else None; ``_Unreadable`` if it is not a ledger line.

    A line in the current form is authenticated as the bytes it holds (the body's text, as
    signed) and only those are parsed; an older line, or one that fails that check, is
    parsed in full and its body re-encoded and checked (as every line was before). The
    writer makes ASCII only: any other character is an alteration (and would make
    ``hmac.compare_digest`` raise TypeError instead of refusing the line)."""
    if not line.isascii():
        return None
    if line[-_MAC_TAIL : -_MAC_TAIL + len(_MAC_MEMBER)] == _MAC_MEMBER and line.endswith('"}'):
        text, mac = line[:-_MAC_TAIL] + "}", line[-_MAC_TAIL + len(_MAC_MEMBER) : -2]
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        version = body.get("v") if isinstance(body, dict) else None
        if (
            type(version) is int
            and version in keys
            and hmac.compare_digest(mac, _text_mac(previous, text, keys[version]))
        ):
            body["mac"] = mac
            return body
    try:
        entry = json.loads(line)
        mac = entry.pop("mac")
    except (ValueError, KeyError, AttributeError, TypeError):
        raise _Unreadable from None
    if not isinstance(mac, str) or not _line_verifies(previous, entry, mac, keys):
        return None
    entry["mac"] = mac
    return entry


def _line_keys() -> dict[int, bytes]:
    return {version: derived(version, b"ledger") for version in ring()}


def _head_mac(count: int, last: str, size: int, version: int) -> str:
    return hmac.new(
        derived(version, b"ledger-head"), f"{count}|{last}|{size}".encode(), hashlib.sha256
    ).hexdigest()


def _authentic_head(head: Any) -> dict[str, Any] | None:
    try:
        versions = [head["v"]] if "v" in head else sorted(ring(), reverse=True)
        for version in versions:
            if version in ring() and hmac.compare_digest(
                head["mac"], _head_mac(head["count"], head["last"], head["size"], version)
            ):
                return dict(head)
    except (KeyError, TypeError):
        pass
    return None


def _read_head() -> dict[str, Any] | None:
    """The signed head ({"count", "last", "size", "mac", "v"}) if present and authentic."""
    try:
        return _authentic_head(json.loads(_head_path().read_text()))
    except (OSError, ValueError):
        return None


def _write_head(count: int, last: str, size: int) -> None:
    version = max(ring())
    head = {
        "count": count,
        "last": last,
        "size": size,
        "v": version,
        "mac": _head_mac(count, last, size, version),
    }
    write_private(_head_path(), json.dumps(head).encode())


def parse_ledger(text: str, head: dict[str, Any] | None, *, name: str = LEDGER_FILE) -> list[dict]:
    """Authenticate every line of a ledger's text against its chain and signed head."""
    entries, previous, keys = [], "", _line_keys()
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            entry = _authenticated(line, previous, keys)
        except _Unreadable:
            raise BackupError(f"{name} line {number} is unreadable") from None
        if entry is None:
            raise BackupError(f"{name} line {number} failed authentication: the ledger was altered")
        entries.append(entry)
        previous = entry["mac"]
    # The head is written after the lines, so a crash in between leaves the file longer
    # than its head (those lines are authenticated by the chain); a shorter file, or one
    # whose line at the head's position differs, lost entries.
    count = head["count"] if head is not None else -1
    last = head["last"] if head is not None else ""
    if count < 0 or count > len(entries) or (count and entries[count - 1]["mac"] != last):
        raise BackupError(f"{name} does not match its signed head: entries were removed")
    return entries


def ledger_exists() -> bool:
    return _ledger_path().exists() or _head_path().exists()


def read_ledger_file() -> list[dict[str, Any]]:
    """Every line of the file ledger, authenticated and checked against its signed head;
    raises BackupError if anything was altered, removed or cut off, or if the ledger is
    missing."""
    path, head_path = _ledger_path(), _head_path()
    if not path.exists() or not head_path.exists():
        missing = [p.name for p in (path, head_path) if not p.exists()]
        raise BackupError(
            f"the erasure ledger is missing from {backup_dir()} ({' and '.join(missing)})"
        )
    return parse_ledger(path.read_text(), _read_head())


def read_ledger_with_offsets() -> list[tuple[dict[str, Any], int]]:
    """``read_ledger_file`` with the byte offset where each line ends (for a checkpoint)."""
    path = _ledger_path()
    entries = read_ledger_file()
    data = path.read_bytes()
    offsets, position = [], 0
    for _line in range(len(entries)):
        position = data.index(b"\n", position) + 1
        offsets.append(position)
    return list(zip(entries, offsets, strict=True))


def _start_ledger() -> None:
    """Create an empty ledger with its head (caller holds the lock). A reconcile
    checkpoint of a former ledger no longer applies."""
    _checkpoint_path().unlink(missing_ok=True)
    fd = _open_private(_ledger_path(), os.O_WRONLY | os.O_APPEND)
    os.fsync(fd)
    os.close(fd)
    _write_head(0, "", 0)


def ensure_ledger() -> None:
    """A new deployment's empty ledger, so that a missing one later means a lost one."""
    with _ledger_lock():
        if not ledger_exists():
            _start_ledger()


def _body(line: LedgerLine, version: int) -> dict[str, Any]:
    return {
        "tenant": line.tenant_id,
        "subject": line.subject_id,
        "reference": line.reference,
        "reason": line.reason,
        "erased_at": line.erased_at.isoformat(),
        "kind": line.kind,
        "v": version,
    }


def append_ledger_lines(lines: Sequence[LedgerLine]) -> None:
    """Append lines durably (written, flushed, fsynced, head replaced) or raise
    ``LedgerWriteError`` saying why — a full disk, a permission, a damaged ledger.

    The signed head records the file's size, so an append costs the new lines, not a
    re-read of the whole ledger; a file that does not end where its head says (a crash
    between line and head) is read and checked in full first.
    """
    if not lines:
        return
    try:
        with _ledger_lock():
            if not ledger_exists():
                _start_ledger()
            path, head = _ledger_path(), _read_head()
            size = path.stat().st_size
            if head is not None and head["size"] == size:
                count, previous = head["count"], head["last"]
            else:
                entries = read_ledger_file()  # raises if the ledger was tampered with
                count, previous = len(entries), (entries[-1]["mac"] if entries else "")
            version, text = max(ring()), []
            key = derived(version, b"ledger")
            for line in lines:
                written, previous = _line(previous, _body(line, version), key)
                text.append(written + "\n")
            fd = _open_private(path, os.O_WRONLY | os.O_APPEND)
            try:
                data = "".join(text).encode()
                if os.write(fd, data) != len(data):
                    raise OSError(errno.ENOSPC, "short write")
                os.fsync(fd)
                size = os.lseek(fd, 0, os.SEEK_END)
            finally:
                os.close(fd)
            _write_head(count + len(lines), previous, size)
    except OSError as error:
        raise LedgerWriteError(
            f"the erasure ledger in {settings.BACKUP_DIR} could not be written "
            f"({error.strerror or type(error).__name__})"
        ) from None
    except LedgerWriteError:
        raise
    except BackupError as error:
        raise LedgerWriteError(f"the erasure ledger cannot be extended: {error}") from None


def append_ledger_file(
    *, tenant_id: int, subject_id: str, reference: str, reason: str, erased_at: dt.datetime
) -> None:
    """Append one erasure intent to the file ledger (see ``append_ledger_lines``)."""
    append_ledger_lines([LedgerLine(tenant_id, subject_id, reference, reason, erased_at)])


def ledger_state() -> tuple[int, str]:
    """(entries, last MAC) of the file ledger: its signed head when the file ends where the
    head says, else a full authenticated read (raises BackupError if altered or missing)."""
    head, path = _read_head(), _ledger_path()
    size = path.stat().st_size if path.exists() else -1
    if head is not None and head["size"] == size:
        return int(head["count"]), str(head["last"])
    entries = read_ledger_file()
    return len(entries), (entries[-1]["mac"] if entries else "")


def ledger_entry_count() -> int:
    return ledger_state()[0]


def snapshot_ledger() -> LedgerSnapshot:
    """The ledger's exact bytes and head as of now (under the lock), for a backup's copy."""
    with _ledger_lock():
        if not ledger_exists():
            _start_ledger()
        text = _ledger_path().read_text()
        entries = parse_ledger(text, _read_head())
        last = entries[-1]["mac"] if entries else ""
        head = _read_head()
    data = json.dumps({"head": head, "text": text}).encode()
    return LedgerSnapshot(count=len(entries), last=last, data=data)


def parse_snapshot(data: bytes, *, name: str) -> list[dict[str, Any]]:
    """The entries of a backup's ledger copy (authenticated like the live ledger)."""
    try:
        copy = json.loads(data)
        text, head = copy["text"], _authentic_head(copy["head"])
    except (ValueError, KeyError, TypeError):
        raise BackupError(f"{name} is not a ledger copy") from None
    return parse_ledger(text, head, name=name)


@dataclass(frozen=True)
class LedgerCopy:
    """What a backup's manifest records of the ledger copy written beside it."""

    count: int  # entries
    last: str  # the last entry's MAC
    sha256: str  # of the encrypted copy


def write_ledger_copy(path: Path) -> LedgerCopy:
    """Encrypt the ledger as of now into ``path`` (mode 0600, like a backup): the copy kept
    beside each backup, so the ledger survives as long as any backup does."""
    snapshot = snapshot_ledger()
    written, _plain, _version = encrypt_to(path, io.BytesIO(snapshot.data), backup_id=uuid.uuid4())
    return LedgerCopy(count=snapshot.count, last=snapshot.last, sha256=written.sha256.hexdigest())


def read_ledger_copy(path: Path, *, sha256: str, count: int, last: str) -> list[dict[str, Any]]:
    """The entries of the ledger copy at ``path``, checked against what its backup's
    manifest recorded (``LedgerCopy``); BackupError if it is missing or altered."""
    data = check_file(path, None, sha256)
    plain = io.BytesIO()
    decrypt_stream(io.BytesIO(data), plain)
    entries = parse_snapshot(plain.getvalue(), name=path.name)
    if len(entries) != count or (entries and entries[-1]["mac"] != last):
        raise BackupError(f"{path.name} does not match its manifest")
    return entries


def require_writable_location() -> None:
    """Start-up check of every process that can erase (web, worker): the ledger's folder
    exists or can be made, and the lock, the ledger and its head can be written there."""
    try:
        folder = backup_dir()
        probe = folder / ".baomi-write-probe"
        write_private(probe, b"probe")
        probe.unlink()
        for name in (LOCK_FILE, LEDGER_FILE):
            target = folder / name
            if target.exists() or name == LOCK_FILE:
                os.close(_open_private(target, os.O_WRONLY | os.O_APPEND))
        sync_folder(folder)
    except OSError as error:
        raise ImproperlyConfigured(
            f"The erasure ledger's folder BACKUP_DIR ({error.filename or '?'}) is not writable "
            f"by this process ({error.strerror or type(error).__name__}). Every process that "
            "can erase (web and worker) must write the same ledger: mount the backups volume "
            "in each, writable by the app's user."
        ) from None


def ledger_folder() -> Path:
    """Where the file ledger lives (the backup location's folder)."""
    return _ledger_path().parent


@contextmanager
def ledger_lock() -> Iterator[None]:
    """The ledger's one-writer lock, for a file kept on the ledger's side (the audit
    chain's anchors, privacy/anchor_sinks.py)."""
    with _ledger_lock():
        yield


# --- The reconcile checkpoint ----------------------------------------------------------------
# ``erasure-ledger.reconciled`` (signed like the head) lets the reconcile at the start of a
# sweep read only what was appended since the last one: the first ``count`` lines (``size``
# bytes, the last one's MAC ``last``) hold no intent left to finish, and for each tenant every
# database-ledger entry with an id up to ``high[tenant]`` is in the file. Anything that does
# not continue it (a new ledger, a file cut or replaced, a database behind it) sends the
# reconcile back to a full read; the hourly job and restores always read in full.


@dataclass(frozen=True)
class Checkpoint:
    count: int
    size: int
    last: str
    high: dict[int, int]


def _checkpoint_path() -> Path:
    return backup_dir() / CHECKPOINT_FILE


def _checkpoint_mac(body: dict[str, Any], version: int) -> str:
    return hmac.new(
        derived(version, b"ledger-checkpoint"), _canonical(body), hashlib.sha256
    ).hexdigest()


def read_checkpoint() -> Checkpoint | None:
    """The reconcile checkpoint, if present and authentic."""
    try:
        data = json.loads(_checkpoint_path().read_text())
        mac, body = data.pop("mac"), data
        if body["v"] not in ring() or not hmac.compare_digest(
            mac, _checkpoint_mac(body, body["v"])
        ):
            return None
        return Checkpoint(
            int(body["count"]),
            int(body["size"]),
            str(body["last"]),
            {int(k): int(v) for k, v in body["high"].items()},
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def write_checkpoint(checkpoint: Checkpoint) -> None:
    version = max(ring())
    body = {
        "count": checkpoint.count,
        "size": checkpoint.size,
        "last": checkpoint.last,
        "high": {str(k): v for k, v in checkpoint.high.items()},
        "v": version,
    }
    with _ledger_lock():
        write_private(
            _checkpoint_path(), json.dumps({**body, "mac": _checkpoint_mac(body, version)}).encode()
        )


def read_ledger_tail(checkpoint: Checkpoint) -> list[tuple[dict[str, Any], int]] | None:
    """The lines after the checkpoint, each with the byte offset where it ends, authenticated
    from the checkpoint's MAC on and checked against the signed head; None when the file
    does not continue the checkpoint (then the caller reads it in full). Raises BackupError
    if the lines after it were altered."""
    path, head = _ledger_path(), _read_head()
    if head is None or not path.exists():
        return None
    with path.open("rb") as handle:
        start = max(0, checkpoint.size - 4096)
        handle.seek(start)
        data = handle.read()
    cut = checkpoint.size - start
    if len(data) < cut or (checkpoint.size and data[cut - 1 : cut] != b"\n"):
        return None
    if checkpoint.count:
        before = data[:cut].rstrip(b"\n").rsplit(b"\n", 1)[-1]
        try:
            if json.loads(before).get("mac") != checkpoint.last:
                return None
        except ValueError:
            return None
    elif checkpoint.size:
        return None
    entries: list[tuple[dict[str, Any], int]] = []
    previous, keys, offset = checkpoint.last, _line_keys(), checkpoint.size
    for number, line in enumerate(data[cut:].split(b"\n")[:-1], start=checkpoint.count + 1):
        offset += len(line) + 1
        try:
            entry = _authenticated(line.decode("ascii"), previous, keys)
        except (_Unreadable, UnicodeDecodeError):
            raise BackupError(f"{LEDGER_FILE} line {number} is unreadable") from None
        if entry is None:
            raise BackupError(
                f"{LEDGER_FILE} line {number} failed authentication: the ledger was altered"
            )
        entries.append((entry, offset))
        previous = entry["mac"]
    count, total = int(head["count"]), checkpoint.count + len(entries)
    if count < checkpoint.count or count > total:
        return None
    last = (
        entries[count - checkpoint.count - 1][0]["mac"]
        if count > checkpoint.count
        else (checkpoint.last)
    )
    if last != head["last"]:
        return None
    return entries
