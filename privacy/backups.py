"""Encrypted backups of the main database and of the key store, and restores that never
bring an erased customer back.

File format (``<id>.<kind>.bak``): ``BAOMIBK1`` | key version (4 bytes) | backup id
(16 bytes), then chunks of ``length (4) | nonce (12) | AES-256-GCM ciphertext+tag``. Each
chunk's associated data is the header plus its index and a final-chunk flag, so chunks
cannot be reordered, dropped, swapped between backups or cut off at the end. The key is
the backup key ring's newest version (settings.BAOMI_BACKUP_KEY_RING), never the master key.

Beside each file: ``<id>.<kind>.json``, the manifest (time, size, SHA-256 of the file,
key version, schema version), authenticated with a key derived from the backup key.
Beside all of them: ``erasure-ledger.jsonl``, an append-only, hash-chained copy of the
erasure ledger; ``restore_backup`` replays it so an erased customer stays erased.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
import sqlite3
import struct
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

MAGIC = b"BAOMIBK1"
HEADER = struct.Struct(">8sI16s")
CHUNK = 1024 * 1024
KINDS = {"main": "default", "keystore": "keystore"}
LEDGER_FILE = "erasure-ledger.jsonl"


class BackupError(Exception):
    """A backup cannot be made, verified or restored; the message says why."""


def backup_dir() -> Path:
    path = Path(settings.BACKUP_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _ring() -> dict[int, bytes]:
    return settings.BAOMI_BACKUP_KEY_RING


def _derived(version: int, purpose: bytes) -> bytes:
    key = _ring().get(version)
    if key is None:
        raise BackupError(f"backup key version {version} is not in the configured ring")
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"baomi-backup|" + purpose
    ).derive(key)


def _chunk_aad(header: bytes, index: int, final: bool) -> bytes:
    return header + struct.pack(">QB", index, 1 if final else 0)


def encrypt_stream(
    source: IO[bytes], target: IO[bytes], *, backup_id: uuid.UUID
) -> tuple[int, int]:
    """Encrypt ``source`` into ``target``; returns (plain bytes, key version)."""
    version = max(_ring())
    cipher = AESGCM(_derived(version, b"data"))
    header = HEADER.pack(MAGIC, version, backup_id.bytes)
    target.write(header)
    total, index = 0, 0
    block = source.read(CHUNK)
    while True:
        following = source.read(CHUNK) if block else b""
        final = not following
        nonce = os.urandom(12)
        sealed = cipher.encrypt(nonce, block, _chunk_aad(header, index, final))
        target.write(struct.pack(">I", len(sealed)) + nonce + sealed)
        total += len(block)
        index += 1
        if final:
            return total, version
        block = following


def decrypt_stream(source: IO[bytes], target: IO[bytes] | None) -> int:
    """Decrypt and authenticate every chunk (writing to ``target`` if given)."""
    header = source.read(HEADER.size)
    if len(header) != HEADER.size:
        raise BackupError("the backup file is truncated (no header)")
    magic, version, _raw_id = HEADER.unpack(header)
    if magic != MAGIC:
        raise BackupError("not a Baomi backup file")
    cipher = AESGCM(_derived(version, b"data"))
    total, index = 0, 0
    while True:
        length_bytes = source.read(4)
        if len(length_bytes) != 4:
            raise BackupError("the backup file is truncated (its last chunk is missing)")
        (length,) = struct.unpack(">I", length_bytes)
        nonce, sealed = source.read(12), source.read(length)
        if len(nonce) != 12 or len(sealed) != length:
            raise BackupError(f"the backup file is truncated in chunk {index}")
        plain = None
        for final in (False, True):
            try:
                plain = cipher.decrypt(nonce, sealed, _chunk_aad(header, index, final))
                break
            except InvalidTag:
                continue
        if plain is None:
            raise BackupError(
                f"chunk {index} failed authentication: the file was altered or corrupted"
            )
        if target is not None:
            target.write(plain)
        total += len(plain)
        index += 1
        if final:
            if source.read(1):
                raise BackupError("data follows the final chunk: the file was altered")
            return total


def _schema_version(alias: str) -> dict[str, str]:
    recorder = MigrationRecorder(connections[alias])
    latest: dict[str, str] = {}
    for app, name in recorder.migration_qs.values_list("app", "name").order_by("app", "name"):
        latest[app] = name
    return latest


class _HashingWriter:
    """Writes through to ``target`` and hashes what it wrote (one pass over the backup)."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target, self.sha256, self.size = target, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.target.write(data)


@contextmanager
def _dump_stream(alias: str) -> Iterator[IO[bytes]]:
    """The plain dump of database ``alias`` as a stream, read while it is written: on
    PostgreSQL pg_dump's output goes through a pipe, never to disk in the clear."""
    connection = connections[alias]
    config = connection.settings_dict
    if connection.vendor == "postgresql":
        env = {**os.environ, "PGPASSWORD": str(config.get("PASSWORD") or "")}
        command = [
            "pg_dump",
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            f"--host={config.get('HOST') or 'localhost'}",
            f"--port={config.get('PORT') or 5432}",
            f"--username={config.get('USER') or 'postgres'}",
            str(config["NAME"]),
        ]
        with tempfile.TemporaryFile() as errors:
            process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=errors)  # noqa: S603
            assert process.stdout is not None  # noqa: S101 (stdout=PIPE)
            try:
                yield process.stdout
            finally:
                process.stdout.close()
                returncode = process.wait()
            if returncode != 0:
                errors.seek(0)
                message = errors.read().decode(errors="replace").strip()[:300]
                raise BackupError(f"pg_dump failed: {message}")
        return
    if connection.vendor == "sqlite":
        with tempfile.TemporaryDirectory() as scratch:
            into = Path(scratch) / "dump"
            connection.ensure_connection()
            target = sqlite3.connect(into)
            try:
                connection.connection.backup(target)
            finally:
                target.close()
            with into.open("rb") as dump:
                yield dump
        return
    raise BackupError(f"backups of {connection.vendor} databases are not supported")


@dataclass(frozen=True)
class Manifest:
    id: str
    kind: str
    created_at: str
    size: int
    plain_size: int
    sha256: str
    key_version: int
    engine: str
    schema: dict[str, str]
    ledger_entries: int

    @property
    def path(self) -> Path:
        return backup_dir() / f"{self.id}.{self.kind}.bak"


def _manifest_mac(body: dict[str, Any]) -> str:
    data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(_derived(body["key_version"], b"manifest"), data, hashlib.sha256).hexdigest()


def _write_manifest(manifest: Manifest) -> None:
    body = manifest.__dict__.copy()
    (backup_dir() / f"{manifest.id}.{manifest.kind}.json").write_text(
        json.dumps({**body, "mac": _manifest_mac(body)}, indent=2, sort_keys=True)
    )


def read_manifest(path: Path) -> Manifest:
    try:
        body = json.loads(path.read_text())
        mac = body.pop("mac")
    except (OSError, ValueError, KeyError):
        raise BackupError(f"the manifest {path.name} is unreadable") from None
    if not hmac.compare_digest(mac, _manifest_mac(body)):
        raise BackupError(f"the manifest {path.name} failed authentication: it was altered")
    return Manifest(**body)


def create_backup(kind: str) -> Manifest:
    """Dump the database of ``kind`` (main or keystore), encrypt it, write it and its manifest."""
    if kind not in KINDS:
        raise BackupError(f"unknown backup kind {kind!r}")
    alias = KINDS[kind]
    backup_id = uuid.uuid4()
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    name = f"{stamp}-{backup_id.hex[:8]}"
    final = backup_dir() / f"{name}.{kind}.bak"
    partial = final.with_suffix(".partial")
    try:
        # Dump, encrypt, write and hash in one pass.
        with _dump_stream(alias) as source, partial.open("wb") as target:
            os.chmod(partial, 0o600)
            written = _HashingWriter(target)
            plain_size, version = encrypt_stream(source, written, backup_id=backup_id)  # type: ignore[arg-type]
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.rename(final)
    manifest = Manifest(
        id=name,
        kind=kind,
        created_at=timezone.now().isoformat(),
        size=written.size,
        plain_size=plain_size,
        sha256=written.sha256.hexdigest(),
        key_version=version,
        engine=connections[alias].vendor,
        schema=_schema_version(alias),
        ledger_entries=ledger_entry_count(),
    )
    _write_manifest(manifest)
    return manifest


def list_backups() -> list[Manifest]:
    manifests = []
    for path in sorted(backup_dir().glob("*.json")):
        try:
            manifests.append(read_manifest(path))
        except BackupError:
            continue
    return manifests


def find_backup(backup_id: str, kind: str) -> Manifest:
    path = backup_dir() / f"{backup_id}.{kind}.json"
    if not path.exists():
        raise BackupError(f"no {kind} backup {backup_id!r} in {backup_dir()}")
    return read_manifest(path)


def verify_backup(manifest: Manifest) -> int:
    """Check size, SHA-256 and every chunk's authentication; returns the plain size."""
    if not manifest.path.exists():
        raise BackupError(f"the backup file {manifest.path.name} is missing")
    data = manifest.path.read_bytes()
    if len(data) != manifest.size or hashlib.sha256(data).hexdigest() != manifest.sha256:
        raise BackupError(
            f"the backup file {manifest.path.name} does not match its manifest (size or SHA-256)"
        )
    with manifest.path.open("rb") as source:
        return decrypt_stream(source, None)


def _restore_into(alias: str, dump: Path) -> None:
    connection = connections[alias]
    config = connection.settings_dict
    connections[alias].close()
    if connection.vendor == "postgresql":
        env = {**os.environ, "PGPASSWORD": str(config.get("PASSWORD") or "")}
        command = [
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            f"--host={config.get('HOST') or 'localhost'}",
            f"--port={config.get('PORT') or 5432}",
            f"--username={config.get('USER') or 'postgres'}",
            f"--dbname={config['NAME']}",
            str(dump),
        ]
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise BackupError(f"pg_restore failed: {result.stderr.strip()[:300]}")
        return
    if connection.vendor == "sqlite":
        source = sqlite3.connect(dump)
        target = sqlite3.connect(str(config["NAME"]))
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        return
    raise BackupError(f"restores into {connection.vendor} databases are not supported")


def restore_backup(manifest: Manifest) -> None:
    """Verify, decrypt and load one backup into its database. The caller replays the
    erasure ledger before the system serves again (``restore_and_replay``)."""
    verify_backup(manifest)
    if manifest.engine != connections[KINDS[manifest.kind]].vendor:
        raise BackupError(
            f"this {manifest.engine} backup cannot be restored into {connections[KINDS[manifest.kind]].vendor}"
        )
    with tempfile.TemporaryDirectory() as scratch:
        dump = Path(scratch) / "dump"
        with manifest.path.open("rb") as source, dump.open("wb") as target:
            decrypt_stream(source, target)
        _restore_into(KINDS[manifest.kind], dump)


# --- the erasure ledger beside the backups ---------------------------------------------


def _ledger_path() -> Path:
    return backup_dir() / LEDGER_FILE


def _line_mac(previous: str, body: dict[str, Any]) -> str:
    data = previous.encode() + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(_derived(max(_ring()), b"ledger"), data, hashlib.sha256).hexdigest()


HEAD_FILE = "erasure-ledger.head"


@contextmanager
def _ledger_lock() -> Iterator[None]:
    """One writer at a time, across processes (sweep workers, web requests)."""
    with (backup_dir() / "erasure-ledger.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _head_mac(count: int, last: str, size: int) -> str:
    return hmac.new(
        _derived(max(_ring()), b"ledger-head"), f"{count}|{last}|{size}".encode(), hashlib.sha256
    ).hexdigest()


def _read_head() -> dict[str, Any] | None:
    """The signed head ({"count", "last", "size", "mac"}) if present and authentic."""
    try:
        head = json.loads((backup_dir() / HEAD_FILE).read_text())
        if hmac.compare_digest(head["mac"], _head_mac(head["count"], head["last"], head["size"])):
            return dict(head)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


@dataclass(frozen=True)
class LedgerLine:
    tenant_id: int
    subject_id: str
    reference: str
    reason: str
    erased_at: dt.datetime


def append_ledger_file(
    *, tenant_id: int, subject_id: str, reference: str, reason: str, erased_at: dt.datetime
) -> None:
    """Append one erasure to the file ledger (see ``append_ledger_lines``)."""
    append_ledger_lines([LedgerLine(tenant_id, subject_id, reference, reason, erased_at)])


def append_ledger_lines(lines: Sequence[LedgerLine]) -> None:
    """Append erasures to the file ledger (hash-chained and keyed: an edited, removed or
    reordered line breaks the chain; the signed head file catches lines cut off the end).

    The callers append only entries the database ledger has just recorded (its unique
    (tenant, subject) makes each erasure appear once). The signed head records the file's
    size, so an append costs the new lines, not a re-read of the whole ledger; a file that
    does not end where its head says (a crash between line and head) is read and checked
    in full first.
    """
    if not lines:
        return
    with _ledger_lock():
        path, head = _ledger_path(), _read_head()
        size = path.stat().st_size if path.exists() else 0
        if head is not None and head["size"] == size:
            count, previous = head["count"], head["last"]
        else:
            entries = read_ledger_file()  # raises if the ledger was tampered with
            count, previous = len(entries), (entries[-1]["mac"] if entries else "")
        text = []
        for line in lines:
            body = {
                "tenant": line.tenant_id,
                "subject": line.subject_id,
                "reference": line.reference,
                "reason": line.reason,
                "erased_at": line.erased_at.isoformat(),
            }
            previous = _line_mac(previous, body)
            text.append(json.dumps({**body, "mac": previous}, sort_keys=True) + "\n")
        with path.open("a") as handle:
            handle.write("".join(text))
            handle.flush()
            os.fsync(handle.fileno())
            size = handle.tell()
        count += len(lines)
        head_path = backup_dir() / HEAD_FILE
        partial = head_path.with_suffix(".partial")
        partial.write_text(
            json.dumps(
                {
                    "count": count,
                    "last": previous,
                    "size": size,
                    "mac": _head_mac(count, previous, size),
                }
            )
        )
        partial.replace(head_path)


def ledger_entry_count() -> int:
    """Entries in the file ledger: its signed head's count when the file ends where the
    head says, else a full authenticated read (raises BackupError if it was altered)."""
    head, path = _read_head(), _ledger_path()
    size = path.stat().st_size if path.exists() else 0
    if head is not None and head["size"] == size:
        return int(head["count"])
    return len(read_ledger_file())


def read_ledger_file() -> list[dict[str, Any]]:
    """Every line of the file ledger, authenticated and checked against its signed head;
    raises BackupError if anything was altered, removed or cut off."""
    path, head_path = _ledger_path(), backup_dir() / HEAD_FILE
    if not path.exists() and not head_path.exists():
        return []
    if not path.exists() or not head_path.exists():
        raise BackupError(
            f"{LEDGER_FILE} or its head file is missing: the ledger was tampered with"
        )
    entries, previous = [], ""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        try:
            entry = json.loads(line)
            mac = entry.pop("mac")
        except (ValueError, KeyError):
            raise BackupError(f"{LEDGER_FILE} line {number} is unreadable") from None
        if not hmac.compare_digest(mac, _line_mac(previous, entry)):
            raise BackupError(
                f"{LEDGER_FILE} line {number} failed authentication: the ledger was altered"
            )
        entries.append({**entry, "mac": mac})
        previous = mac
    head = _read_head()
    # The head is written after the lines, so a crash in between leaves the file longer
    # than its head (those lines are authenticated by the chain); a shorter file, or one
    # whose line at the head's position differs, lost entries.
    count = head["count"] if head is not None else -1
    last = head["last"] if head is not None else ""
    if count < 0 or count > len(entries) or (count and entries[count - 1]["mac"] != last):
        raise BackupError(f"{LEDGER_FILE} does not match its signed head: entries were removed")
    return entries


def check_ledger_covers(manifests: list[Manifest]) -> list[dict[str, Any]]:
    """The ledger only grows: it must hold at least as many entries as when each backup was
    taken. Raises BackupError otherwise (before anything is restored)."""
    entries = read_ledger_file()
    for manifest in manifests:
        if len(entries) < manifest.ledger_entries:
            raise BackupError(
                f"the erasure ledger holds {len(entries)} entries but had {manifest.ledger_entries} "
                f"when {manifest.id} was taken: it was truncated"
            )
    return entries


def iter_ledger_subjects() -> Iterator[tuple[int, str, str, str]]:
    for entry in read_ledger_file():
        yield entry["tenant"], entry["subject"], entry["reference"], entry["reason"]


def prune_backups(now: dt.datetime | None = None) -> list[str]:
    """Keep the newest main backup of each of the last BACKUP_KEEP_DAILY days and of each of
    the last BACKUP_KEEP_WEEKLY weeks; key-store backups only for BACKUP_KEYSTORE_KEEP_DAYS."""
    now = now or timezone.now()
    removed: list[str] = []
    manifests = sorted(list_backups(), key=lambda m: m.created_at, reverse=True)
    keep_days: set[dt.date] = set()
    keep_weeks: set[tuple[int, int]] = set()
    for manifest in manifests:
        created = dt.datetime.fromisoformat(manifest.created_at)
        if manifest.kind == "keystore":
            keep = now - created <= dt.timedelta(days=settings.BACKUP_KEYSTORE_KEEP_DAYS)
        else:
            day, week = created.date(), created.isocalendar()[:2]
            keep = False
            if len(keep_days) < settings.BACKUP_KEEP_DAILY and day not in keep_days:
                keep_days.add(day)
                keep = True
            if len(keep_weeks) < settings.BACKUP_KEEP_WEEKLY and week not in keep_weeks:
                keep_weeks.add(week)
                keep = True
        if not keep:
            for suffix in ("bak", "json"):
                (backup_dir() / f"{manifest.id}.{manifest.kind}.{suffix}").unlink(missing_ok=True)
            removed.append(f"{manifest.id}.{manifest.kind}")
    return removed
