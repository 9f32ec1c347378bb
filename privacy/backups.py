"""Encrypted backups of the main database and of the key store: dumping, encrypting,
verifying, listing, restoring and pruning them.

A backup, ``<id>.<kind>.bak``, is the database's dump in the encrypted file format of
privacy/backup_store.py, under the backup key ring's newest key (never the master key).
Beside it: ``<id>.<kind>.json``, the manifest (time, size, SHA-256 of the file, key version
and a fingerprint of its key, schema version, and the erasure ledger copy's length, last MAC
and SHA-256), authenticated with a key derived from the backup key; and
``<id>.<kind>.ledger``, the copy of the erasure ledger as of that moment, which
privacy/ledger_file.py writes and reads (the restore checks and replays it with the live
ledger: privacy/ledger.py and the ``restore_backup`` command), so an erased customer stays
erased.

Every file is created with mode 0600, and a backup id is checked to be one that
``create_backup`` makes before any file is opened.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import re
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from privacy.backup_store import (
    BackupError,
    WrongBackupKey,
    backup_dir,
    check_file,
    check_key,
    decrypt_stream,
    derived,
    encrypt_to,
    key_check,
    ring,
    write_private,
)
from privacy.ledger_file import read_ledger_copy, write_ledger_copy

__all__ = ["BackupError", "WrongBackupKey", "backup_dir"]

logger = logging.getLogger(__name__)

KINDS = {"main": "default", "keystore": "keystore"}
# What create_backup names its files: <UTC time>-<8 hex digits>.
BACKUP_ID = re.compile(r"\A\d{8}T\d{6}Z-[0-9a-f]{8}\Z")
# A failed nightly backup is retried after 120 s, 240 s, ... at most 1800 s: every delay well
# below the Redis broker's visibility timeout (3600 s), which would otherwise deliver the
# waiting message a second time.
BACKUP_RETRY_BASE_SECONDS = 120
BACKUP_RETRY_MAX_SECONDS = 1800
BACKUP_MAX_RETRIES = 5


def _schema_version(alias: str) -> dict[str, str]:
    recorder = MigrationRecorder(connections[alias])
    latest: dict[str, str] = {}
    for app, name in recorder.migration_qs.values_list("app", "name").order_by("app", "name"):
        latest[app] = name
    return latest


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
    # Since issue 14: the key's fingerprint, the ledger's last MAC at backup time and the
    # encrypted copy of the ledger beside the backup (empty in older manifests).
    key_check: str = ""
    ledger_head: str = ""
    ledger_sha256: str = ""

    @property
    def path(self) -> Path:
        return backup_dir() / f"{self.id}.{self.kind}.bak"

    @property
    def ledger_path(self) -> Path:
        return backup_dir() / f"{self.id}.{self.kind}.ledger"

    @property
    def name(self) -> str:
        return f"{self.id} ({self.kind})"


MANIFEST_FIELDS = {f.name for f in fields(Manifest)}


def _manifest_mac(body: dict[str, Any]) -> str:
    data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(derived(body["key_version"], b"manifest"), data, hashlib.sha256).hexdigest()


def _write_manifest(manifest: Manifest) -> None:
    body = manifest.__dict__.copy()
    text = json.dumps({**body, "mac": _manifest_mac(body)}, indent=2, sort_keys=True)
    write_private(backup_dir() / f"{manifest.id}.{manifest.kind}.json", text.encode())


def read_manifest(path: Path) -> Manifest:
    """An authentic manifest; ``WrongBackupKey`` when no key of the ring opens it,
    ``BackupError`` when it is unreadable or was altered."""
    try:
        body = json.loads(path.read_text())
        mac = body.pop("mac")
        version = body["key_version"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise BackupError(f"the manifest {path.name} is unreadable") from None
    if not isinstance(version, int) or version not in ring():
        raise WrongBackupKey(
            f"no key in the ring opens this backup (it needs key version {version})"
        )
    check_key(version, str(body.get("key_check", "")))
    if not hmac.compare_digest(str(mac), _manifest_mac(body)):
        raise BackupError(f"the manifest {path.name} failed authentication: it was altered")
    if set(body) - MANIFEST_FIELDS:
        raise BackupError(f"the manifest {path.name} is unreadable")
    return Manifest(**body)


def create_backup(kind: str) -> Manifest:
    """Dump the database of ``kind`` (main or keystore), encrypt it, write it, the erasure
    ledger as of the end of the dump, and the manifest of both."""
    if kind not in KINDS:
        raise BackupError(f"unknown backup kind {kind!r}")
    alias = KINDS[kind]
    backup_id = uuid.uuid4()
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    name = f"{stamp}-{backup_id.hex[:8]}"
    final = backup_dir() / f"{name}.{kind}.bak"
    ledger_copy = final.with_suffix(".ledger")
    try:
        # Dump, encrypt, write and hash in one pass.
        with _dump_stream(alias) as source:
            written, plain_size, version = encrypt_to(final, source, backup_id=backup_id)
        # The ledger after the dump: it holds every erasure the dump may lack.
        copy = write_ledger_copy(ledger_copy)
    except BaseException:
        final.unlink(missing_ok=True)
        ledger_copy.unlink(missing_ok=True)
        raise
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
        ledger_entries=copy.count,
        key_check=key_check(version),
        ledger_head=copy.last,
        ledger_sha256=copy.sha256,
    )
    _write_manifest(manifest)
    return manifest


@dataclass(frozen=True)
class Unreadable:
    """A manifest in BACKUP_DIR that cannot be used, and why."""

    file: str
    problem: str


def scan_backups() -> tuple[list[Manifest], list[Unreadable]]:
    """Every manifest in BACKUP_DIR: those that open, and those that don't with the reason
    (a key missing from the ring, an altered or unreadable manifest)."""
    manifests, unreadable = [], []
    for path in sorted(backup_dir().glob("*.json")):
        try:
            manifests.append(read_manifest(path))
        except BackupError as error:
            unreadable.append(Unreadable(path.name, str(error)))
    return manifests, unreadable


def list_backups() -> list[Manifest]:
    return scan_backups()[0]


def check_backup_id(backup_id: str) -> str:
    if not isinstance(backup_id, str) or not BACKUP_ID.match(backup_id):
        raise BackupError(
            f"{backup_id!r} is not a backup id (ids look like 20261129T031500Z-1a2b3c4d; "
            "list_backups shows them)"
        )
    return backup_id


def find_backup(backup_id: str, kind: str) -> Manifest:
    check_backup_id(backup_id)
    if kind not in KINDS:
        raise BackupError(f"unknown backup kind {kind!r}")
    path = backup_dir() / f"{backup_id}.{kind}.json"
    if not path.exists():
        raise BackupError(f"no {kind} backup {backup_id!r} in {backup_dir()}")
    return read_manifest(path)


def verify_backup(manifest: Manifest) -> int:
    """Check size, SHA-256 and every chunk's authentication of the backup and of its ledger
    copy; returns the plain size of the backup."""
    check_key(manifest.key_version, manifest.key_check)
    check_file(manifest.path, manifest.size, manifest.sha256)
    if manifest.ledger_sha256:
        read_ledger_copy(
            manifest.ledger_path,
            sha256=manifest.ledger_sha256,
            count=manifest.ledger_entries,
            last=manifest.ledger_head,
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
    """Verify, decrypt and load one backup into its database. The caller checks the ledger
    first and replays it before the system serves again (the restore_backup command)."""
    verify_backup(manifest)
    if manifest.engine != connections[KINDS[manifest.kind]].vendor:
        raise BackupError(
            f"this {manifest.engine} backup cannot be restored into {connections[KINDS[manifest.kind]].vendor}"
        )
    with tempfile.TemporaryDirectory() as scratch:
        dump = Path(scratch) / "dump"
        fd = os.open(dump, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with manifest.path.open("rb") as source, os.fdopen(fd, "wb") as target:
            decrypt_stream(source, target)
        _restore_into(KINDS[manifest.kind], dump)


def _remove(manifest: Manifest) -> None:
    for suffix in ("bak", "ledger", "json"):
        (backup_dir() / f"{manifest.id}.{manifest.kind}.{suffix}").unlink(missing_ok=True)


def prune_backups(now: dt.datetime | None = None) -> list[str]:
    """Keep the newest main backup of each of the last BACKUP_KEEP_DAILY days, of each of
    the last BACKUP_KEEP_WEEKLY ISO weeks and of each of the last BACKUP_KEEP_MONTHLY
    months; key-store backups only while younger than KEYSTORE_BACKUP_RETENTION_DAYS (an
    erased customer's key then exists nowhere after that many days: docs/privacy.md)."""
    now = now or timezone.now()
    removed: list[str] = []
    manifests = sorted(list_backups(), key=lambda m: m.created_at, reverse=True)
    kept: dict[str, set[object]] = {"daily": set(), "weekly": set(), "monthly": set()}
    limits = {
        "daily": settings.BACKUP_KEEP_DAILY,
        "weekly": settings.BACKUP_KEEP_WEEKLY,
        "monthly": settings.BACKUP_KEEP_MONTHLY,
    }
    keystore_window = dt.timedelta(days=settings.KEYSTORE_BACKUP_RETENTION_DAYS)
    for manifest in manifests:
        created = dt.datetime.fromisoformat(manifest.created_at)
        if manifest.kind == "keystore":
            keep = now - created < keystore_window
        else:
            local = timezone.localtime(created)
            buckets = {
                "daily": local.date(),
                "weekly": tuple(local.isocalendar()[:2]),
                "monthly": (local.year, local.month),
            }
            keep = False
            for period, bucket in buckets.items():
                if len(kept[period]) < limits[period] and bucket not in kept[period]:
                    kept[period].add(bucket)
                    keep = True
        if not keep:
            _remove(manifest)
            removed.append(f"{manifest.id}.{manifest.kind}")
    return removed


def backup_retry_delay(retries: int) -> int:
    """Seconds before retry number ``retries + 1`` of a failed nightly backup."""
    return min(BACKUP_RETRY_BASE_SECONDS * 2**retries, BACKUP_RETRY_MAX_SECONDS)


def make_nightly_backups() -> dict[str, Any]:
    """Backups of the main database and of the key store, each verified after it is
    written, then pruning. A failure to make or verify one raises (BackupError, OSError:
    the nightly job retries); a failure to prune is reported in the result, since the
    night's backups are made and verified."""
    made = [create_backup(kind) for kind in ("main", "keystore")]
    for manifest in made:
        verify_backup(manifest)
    detail: dict[str, Any] = {"backups": [f"{m.id}.{m.kind}" for m in made], "verified": True}
    try:
        detail["pruned"] = prune_backups()
    except (BackupError, OSError) as error:
        logger.warning("nightly_backup: pruning failed (%s)", type(error).__name__)
        detail["prune_error"] = f"{type(error).__name__}: {error}"[:500]
    logger.info("nightly_backup wrote and verified %s", ", ".join(detail["backups"]))
    return detail
