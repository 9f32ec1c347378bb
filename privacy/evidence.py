"""Evidence files of incident cases, sealed under the backup key ring (issue 18).

A file is written in the backups' encrypted format (``privacy.backup_store``: AES-256-GCM
chunks under the ring's newest key, mode 0600, written beside then renamed), so a copy of
the folder shows nothing of it. The SHA-256 and size recorded are of the plaintext: opening
decrypts, authenticates every chunk and checks both, and refuses a file that does not
match (``EvidenceError``) rather than serve it."""

from __future__ import annotations

import hashlib
import hmac
import io
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from django.conf import settings

from privacy import backup_store


class EvidenceError(Exception):
    """An evidence file is missing, altered, or does not match its recorded hash or size."""


@dataclass(frozen=True)
class SealedEvidence:
    size: int
    sha256: str  # of the plaintext
    key_version: int


class _HashingReader:
    def __init__(self, source: IO[bytes]) -> None:
        self.source, self.sha256 = source, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.sha256.update(data)
        return data


def evidence_dir(tenant_id: int) -> Path:
    """``settings.EVIDENCE_DIR``/<tenant id>, mode 0700 (never served statically)."""
    root = Path(settings.EVIDENCE_DIR)
    path = root / str(int(tenant_id))
    if not path.is_dir():
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.mkdir(mode=0o700, exist_ok=True)
    return path


def evidence_path(tenant_id: int, file_id: uuid.UUID) -> Path:
    return evidence_dir(tenant_id) / f"{file_id.hex}.sealed"


def seal_evidence(source: IO[bytes], *, tenant_id: int, file_id: uuid.UUID) -> SealedEvidence:
    """Encrypt ``source`` into the tenant's evidence folder as ``file_id``; returns the
    plaintext's size and SHA-256 and the key version used."""
    path = evidence_path(tenant_id, file_id)
    if path.exists():
        raise EvidenceError("an evidence file with this id already exists")
    reader = _HashingReader(source)
    _written, size, version = backup_store.encrypt_to(path, reader, backup_id=file_id)  # type: ignore[arg-type]
    backup_store.sync_folder(path.parent)
    return SealedEvidence(size=size, sha256=reader.sha256.hexdigest(), key_version=version)


def discard_evidence(*, tenant_id: int, file_id: uuid.UUID) -> None:
    """Remove a file sealed by a write that then failed (never a recorded one)."""
    evidence_path(tenant_id, file_id).unlink(missing_ok=True)


def open_evidence(*, tenant_id: int, file_id: uuid.UUID, sha256: str, size: int) -> bytes:
    """The plaintext of a sealed file, after checking it decrypts and matches ``sha256``
    and ``size``; otherwise ``EvidenceError`` saying why (never the contents)."""
    path = evidence_path(tenant_id, file_id)
    try:
        with path.open("rb") as source:
            plain = io.BytesIO()
            backup_store.decrypt_stream(source, plain)
    except FileNotFoundError:
        raise EvidenceError("the evidence file is missing from its folder") from None
    except backup_store.BackupError as error:
        raise EvidenceError(f"the evidence file cannot be opened: {error}") from None
    data = plain.getvalue()
    if len(data) != size or not hmac.compare_digest(hashlib.sha256(data).hexdigest(), sha256):
        raise EvidenceError("the evidence file does not match its recorded SHA-256 and size")
    return data
