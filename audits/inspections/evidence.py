"""Evidence files of inspection findings: a photo or a scanned record the inspector
attaches. The bytes decide the type — PDF, PNG, JPEG or WebP — never the file name or the
browser's claim; the size is capped (``INSPECTION_EVIDENCE_MAX_BYTES``, 10 MB by default).
A file is stored once per tenant as ``INSPECTION_EVIDENCE_DIR/<tenant id>/<sha256>``
(default ``var/inspection-evidence``), like the lesson images; the file name given at
upload is not kept. Only the tenant's supervisors download it
(``audits.inspections_admin``), with ``nosniff`` and a sandboxing CSP, each download
audited."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from audits.models import EvidenceFile, EvidenceType

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
#: At most this many files in one submission of a finding.
MAX_FILES = 5
EXTENSIONS = {
    EvidenceType.PDF: "pdf",
    EvidenceType.PNG: "png",
    EvidenceType.JPEG: "jpg",
    EvidenceType.WEBP: "webp",
}


@dataclass(frozen=True)
class CheckedFile:
    """An upload whose bytes were recognised: ready to store."""

    data: bytes
    sha256: str
    content_type: str

    @property
    def size(self) -> int:
        return len(self.data)


def max_bytes() -> int:
    return int(getattr(settings, "INSPECTION_EVIDENCE_MAX_BYTES", DEFAULT_MAX_BYTES))


def evidence_root() -> Path:
    configured = getattr(settings, "INSPECTION_EVIDENCE_DIR", None)
    return Path(configured) if configured else Path(settings.VAR_DIR) / "inspection-evidence"


def _directory(tenant_id: int) -> Path:
    return evidence_root() / str(int(tenant_id))


def evidence_path(evidence: EvidenceFile) -> Path:
    return _directory(evidence.tenant_id) / evidence.sha256


def sniff(data: bytes) -> str | None:
    """The evidence type the bytes are, or None."""
    if data.startswith(b"%PDF-"):
        return EvidenceType.PDF.value
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return EvidenceType.PNG.value
    if data.startswith(b"\xff\xd8\xff"):
        return EvidenceType.JPEG.value
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return EvidenceType.WEBP.value
    return None


def too_big(size: int, *, field: str = "evidence") -> ValidationError:
    return ValidationError(
        {
            field: _("The evidence file is too big: %(size)s KB, at most %(max)s KB.")
            % {"size": (size + 1023) // 1024, "max": max_bytes() // 1024}
        }
    )


def check_file(data: bytes, *, field: str = "evidence") -> CheckedFile:
    """The upload, recognised, or a ``ValidationError`` on ``field`` saying what is wrong."""
    if not data:
        raise ValidationError({field: _("The evidence file is empty.")})
    if len(data) > max_bytes():
        raise too_big(len(data), field=field)
    content_type = sniff(data)
    if content_type is None:
        raise ValidationError(
            {field: _("Evidence must be a PDF, PNG, JPEG or WebP file: this file is none of them.")}
        )
    return CheckedFile(data, hashlib.sha256(data).hexdigest(), content_type)


def write_file(tenant_id: int, checked: CheckedFile) -> bool:
    """Write the file once (atomically); True when this call created it (the caller
    removes it again with ``remove_file`` if its transaction fails)."""
    directory = _directory(tenant_id)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / checked.sha256
    if target.exists():
        return False
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(checked.data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def remove_file(tenant_id: int, sha256: str) -> None:
    (_directory(tenant_id) / sha256).unlink(missing_ok=True)


def download_name(evidence: EvidenceFile) -> str:
    extension = EXTENSIONS.get(EvidenceType(evidence.content_type), "bin")
    return f"evidence-{evidence.sha256[:12]}.{extension}"
