"""What the backups and the file ledger share: their folder, their key ring, private files.

Every file written here is created with mode 0600 in a folder of mode 0700, and replaced
atomically (written beside, flushed, fsynced, renamed), so a crash leaves either the old
file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class BackupError(Exception):
    """A backup cannot be made, verified or restored; the message says why."""


class WrongBackupKey(BackupError):
    """The configured backup key ring holds no key that opens this file."""


def backup_dir() -> Path:
    path = Path(settings.BACKUP_DIR)
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def ring() -> dict[int, bytes]:
    return settings.BAOMI_BACKUP_KEY_RING


def wrong_key(version: int) -> WrongBackupKey:
    return WrongBackupKey(f"no key in the ring opens this backup (it needs key version {version})")


def derived(version: int, purpose: bytes) -> bytes:
    key = ring().get(version)
    if key is None:
        raise wrong_key(version)
    return _hkdf(key, purpose)


@lru_cache(maxsize=64)
def _hkdf(key: bytes, purpose: bytes) -> bytes:
    # Cached by the key itself: the ledger MACs every line with the same derived key.
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"baomi-backup|" + purpose
    ).derive(key)


def key_check(version: int) -> str:
    """A fingerprint of the ring's key ``version`` (HMAC of a constant under a key derived
    for this purpose only): tells a wrong key apart from an altered file."""
    return hmac.new(derived(version, b"key-check"), b"baomi", hashlib.sha256).hexdigest()[:32]


def check_key(version: int, fingerprint: str) -> None:
    """Raise ``WrongBackupKey`` unless the ring's key ``version`` is the one that wrote."""
    if not fingerprint:
        return  # written before fingerprints existed: the MAC alone decides
    if not hmac.compare_digest(fingerprint, key_check(version)):
        raise wrong_key(version)


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically with ``data``, mode 0600, durably (fsync of the file and
    of its folder)."""
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(partial, 0o600)
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    sync_folder(path.parent)


def sync_folder(path: Path) -> None:
    """fsync a folder, so a file created or renamed in it survives a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
