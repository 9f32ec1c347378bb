"""What the backups and the file ledger share: their folder, their key ring, private files,
and the encrypted file format of a backup and of the ledger copy kept beside it.

Encrypted file format: ``BAOMIBK1`` | key version (4 bytes) | file id (16 bytes), then
chunks of ``length (4) | nonce (12) | AES-256-GCM ciphertext+tag``. Each chunk's associated
data is the header plus its index and a final-chunk flag, so chunks cannot be reordered,
dropped, swapped between files or cut off at the end. The key is the backup key ring's
newest version (settings.BAOMI_BACKUP_KEY_RING), never the master key.

Every file written here is created with mode 0600 in a folder of mode 0700, and replaced
atomically (written beside, flushed, fsynced, renamed), so a crash leaves either the old
file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import uuid
from functools import lru_cache
from pathlib import Path
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
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


# --- the encrypted file format -------------------------------------------------------------

MAGIC = b"BAOMIBK1"
HEADER = struct.Struct(">8sI16s")
CHUNK = 1024 * 1024


def _chunk_aad(header: bytes, index: int, final: bool) -> bytes:
    return header + struct.pack(">QB", index, 1 if final else 0)


def encrypt_stream(
    source: IO[bytes], target: IO[bytes], *, backup_id: uuid.UUID
) -> tuple[int, int]:
    """Encrypt ``source`` into ``target``; returns (plain bytes, key version)."""
    version = max(ring())
    cipher = AESGCM(derived(version, b"data"))
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
    cipher = AESGCM(derived(version, b"data"))
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
            if index == 0:
                raise BackupError(
                    "chunk 0 failed authentication: the file was altered or corrupted, or the "
                    f"ring's key version {version} is not the key that wrote it"
                )
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


class HashingWriter:
    """Writes through to ``target`` and hashes what it wrote (one pass over the backup)."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target, self.sha256, self.size = target, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.target.write(data)


def encrypt_to(
    path: Path, source: IO[bytes], *, backup_id: uuid.UUID
) -> tuple[HashingWriter, int, int]:
    """Encrypt ``source`` into ``path`` (mode 0600, written beside then renamed)."""
    partial = path.with_name(path.name + ".partial")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as target:
            written = HashingWriter(target)
            plain_size, version = encrypt_stream(source, written, backup_id=backup_id)  # type: ignore[arg-type]
            target.flush()
            os.fsync(target.fileno())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.rename(path)
    return written, plain_size, version


def check_file(path: Path, size: int | None, sha256: str) -> bytes:
    if not path.exists():
        raise BackupError(f"the backup file {path.name} is missing")
    data = path.read_bytes()
    if (size is not None and len(data) != size) or not hmac.compare_digest(
        hashlib.sha256(data).hexdigest(), sha256
    ):
        raise BackupError(
            f"the backup file {path.name} does not match its manifest (size or SHA-256)"
        )
    return data
