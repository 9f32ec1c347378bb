"""Building an evidence pack's archive (issue 20, point 6): one zip holding each registered
section's CSV files (UTF-8 with a byte-order mark, so that Excel reads Chinese; streamed
from the sections' row iterators), ``summary.html`` (a printable, self-contained overview
in the requester's language: no script, no outside resource), ``manifest.json`` (tenant,
period, generator, time, and each file's name, size and SHA-256) and ``manifest.sig``
(base64 of the manifest's Ed25519 signature; audits.evidence_keys).

The archive is written to a hidden temporary file next to its final place and renamed
there only when complete: a failing section fails the pack with its reason and leaves no
half-written archive. Progress (sections done / total) is saved after each section, in its
own small transaction, so the back office sees it move. A done or failed pack is left as
it is: running the job again does nothing."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import logging
import os
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from audits import evidence_keys
from audits.evidence_values import local_time, period_of
from audits.models import EvidencePack, EvidencePackState
from audits.pack_sections import PackSection, PackSectionSpec, all_pack_sections
from audits.services import record_event
from tenants.actors import Actor, SystemActor
from tenants.models import Tenant
from tenants.scoping import tenant_scope

logger = logging.getLogger(__name__)

GENERATOR = "baomi evidence pack 1"
FORMAT = "baomi-evidence-pack/1"
CSV_DIR = "csv"
BOM = "\ufeff".encode()
JOB = SystemActor("evidence-pack")
#: A running pack whose job started longer ago than this is taken over by a new execution.
STALE_AFTER = timedelta(minutes=30)
# Spreadsheet formula injection: a cell starting with one of these is prefixed with "'".
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class SectionFailed(Exception):
    def __init__(self, spec: PackSectionSpec, reason: str) -> None:
        super().__init__(reason)
        self.spec, self.reason = spec, reason


@dataclass
class WrittenFile:
    name: str
    size: int
    sha256: str


class _HashingWriter:
    """Writes to a zip member while counting and hashing what it writes."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target, self.sha, self.size = target, hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        self.target.write(data)
        self.sha.update(data)
        self.size += len(data)


def cell(value: Any) -> str:
    """A CSV cell: times in the tenant's zone, dates ISO, booleans yes/no, labels
    translated; text that a spreadsheet would run as a formula is quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, datetime):
        return local_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float | Decimal):
        return str(value)
    text = str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def _write_csv(
    archive: zipfile.ZipFile, name: str, header: Sequence[Any], rows: Iterable[Sequence[Any]]
) -> WrittenFile:
    with archive.open(name, "w", force_zip64=True) as member:
        out = _HashingWriter(member)
        out.write(BOM)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([cell(h) for h in header])
        for row in rows:
            writer.writerow([cell(v) for v in row])
            if buffer.tell() > 1 << 16:
                out.write(buffer.getvalue().encode("utf-8"))
                buffer.seek(0)
                buffer.truncate()
        out.write(buffer.getvalue().encode("utf-8"))
    return WrittenFile(name, out.size, out.sha.hexdigest())


def _write_bytes(archive: zipfile.ZipFile, name: str, data: bytes) -> WrittenFile:
    archive.writestr(name, data)
    return WrittenFile(name, len(data), hashlib.sha256(data).hexdigest())


def _claim(tenant: Tenant, pack_id: int, total: int) -> EvidencePack | None:
    """Mark the pack running; None when it is done or failed already, or when another
    execution started it less than STALE_AFTER ago (a duplicate message). A job
    redelivered after a worker died takes a stale running pack over: its archive was
    never renamed into place."""
    with transaction.atomic():
        pack = (
            EvidencePack.objects.select_for_update(of=("self",))
            .filter(tenant=tenant, pk=pack_id)
            .first()
        )
        if pack is None or pack.state in (EvidencePackState.DONE, EvidencePackState.FAILED):
            return None
        if (
            pack.state == EvidencePackState.RUNNING
            and pack.started_at is not None
            and pack.started_at > timezone.now() - STALE_AFTER
        ):
            return None
        pack.state = EvidencePackState.RUNNING
        pack.sections_total, pack.sections_done = total, 0
        pack.started_at = timezone.now()
        pack.save(update_fields=["state", "sections_total", "sections_done", "started_at"])
    return pack


class ClaimLost(Exception):
    """Another execution took the pack over (this one was thought dead): stop, write
    nothing more."""


def _progress(pack: EvidencePack, done: int) -> None:
    """Record ``done`` sections — only while this execution still holds the pack (its
    ``started_at`` is the claim: a take-over sets a new one)."""
    updated = EvidencePack.objects.filter(
        tenant_id=pack.tenant_id, pk=pack.pk, started_at=pack.started_at
    ).update(sections_done=done)
    if not updated:
        raise ClaimLost
    pack.sections_done = done


def _fail(tenant: Tenant, pack: EvidencePack, actor: Actor, section: str, reason: str) -> None:
    with transaction.atomic():
        failed = EvidencePack.objects.filter(
            tenant=tenant, pk=pack.pk, started_at=pack.started_at, state=EvidencePackState.RUNNING
        ).update(state=EvidencePackState.FAILED, failure=reason[:300], finished_at=timezone.now())
        if not failed:  # another execution holds the pack now: its outcome stands
            return
        record_event(
            tenant=tenant,
            actor=actor,
            action="evidence.pack_failed",
            target=pack,
            details={"pack": pack.pk, "section": section, "error": reason[:300]},
        )


def _summary_rows(section: PackSection) -> list[tuple[str, str]]:
    return [(str(label), cell(value)) for label, value in section.summary]


def _build_sections(
    pack: EvidencePack, tenant: Tenant, archive: zipfile.ZipFile, specs: list[PackSectionSpec]
) -> tuple[list[WrittenFile], list[dict[str, Any]]]:
    period = period_of(tenant, pack.period_start, pack.period_end)
    written: list[WrittenFile] = []
    shown: list[dict[str, Any]] = []
    names: set[str] = set()
    for done, spec in enumerate(specs, start=1):
        try:
            section = spec.build(tenant, period)
            files = []
            for pack_file in section.files:
                plain = Path(pack_file.name).name
                if not plain or plain != pack_file.name or plain in names:
                    raise SectionFailed(
                        spec,
                        _(
                            "The section “%(section)s” writes the file %(file)s twice or "
                            "under a bad name."
                        )
                        % {"section": spec.title, "file": pack_file.name},
                    )
                names.add(plain)
                path = f"{CSV_DIR}/{plain}"
                files.append(_write_csv(archive, path, pack_file.header, pack_file.rows))
        except SectionFailed:
            raise
        except Exception as error:
            logger.exception("evidence pack %s: section %s failed", pack.pk, spec.key)
            raise SectionFailed(
                spec,
                _("The section “%(section)s” could not be built (%(error)s).")
                % {"section": spec.title, "error": type(error).__name__},
            ) from error
        written.extend(files)
        shown.append(
            {
                "key": spec.key,
                "title": str(spec.title),
                "summary": _summary_rows(section),
                "notes": [str(note) for note in section.notes],
                "files": [f.name for f in files],
            }
        )
        _progress(pack, done)
    return written, shown


def _manifest(
    pack: EvidencePack, tenant: Tenant, now: datetime, files: list[WrittenFile], sections: list
) -> bytes:
    manifest = {
        "format": FORMAT,
        "generator": GENERATOR,
        "tenant": tenant.slug,
        "pack": pack.pk,
        "period": {
            "from": pack.period_start.isoformat(),
            "to": pack.period_end.isoformat(),
            "time_zone": tenant.time_zone,
        },
        "generated_at": timezone.localtime(now).isoformat(timespec="seconds"),
        "requested_by": pack.requested_by.username,
        "language": pack.language,
        "sections": [{"key": s["key"], "title": s["title"]} for s in sections],
        "files": [{"name": f.name, "size": f.size, "sha256": f.sha256} for f in files],
        "signature": {
            "algorithm": evidence_keys.ALGORITHM,
            "file": "manifest.sig",
            "public_key_fingerprint": evidence_keys.fingerprint(),
        },
    }
    return (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _file_name(tenant: Tenant, pack: EvidencePack) -> str:
    return (
        f"{tenant.slug}-evidence-{pack.period_start:%Y%m%d}-{pack.period_end:%Y%m%d}-{pack.pk}.zip"
    )


def build_evidence_pack(*, tenant: Tenant, pack_id: int, actor: Actor = JOB) -> EvidencePack | None:
    """Build the pack ``pack_id`` of ``tenant`` (the background job's body; see the module's
    docstring). Returns the pack, or None when there was nothing to do."""
    with tenant_scope(tenant), timezone.override(tenant.zone):
        specs = all_pack_sections()
        pack = _claim(tenant, pack_id, len(specs))
        if pack is None:
            return None
        with translation.override(pack.language):
            return _build(tenant, pack, specs, actor)


def _build(
    tenant: Tenant, pack: EvidencePack, specs: list[PackSectionSpec], actor: Actor
) -> EvidencePack | None:
    folder = Path(settings.EVIDENCE_PACK_DIR) / tenant.slug
    folder.mkdir(parents=True, exist_ok=True)
    final_name = _file_name(tenant, pack)
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{final_name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as raw:
            with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                try:
                    files, sections = _build_sections(pack, tenant, archive, specs)
                except SectionFailed as failed:
                    _fail(tenant, pack, actor, failed.spec.key, failed.reason)
                    return None
                now = timezone.now()
                summary = render_to_string(
                    "audits/evidence/summary.html",
                    {
                        "tenant": tenant,
                        "pack": pack,
                        "sections": sections,
                        "generated_at": now,
                        "fingerprint": evidence_keys.fingerprint(),
                        "files": files,
                    },
                ).encode("utf-8")
                files.append(_write_bytes(archive, "summary.html", summary))
                manifest = _manifest(pack, tenant, now, files, sections)
                archive.writestr("manifest.json", manifest)
                signature = base64_signature(manifest)
                archive.writestr("manifest.sig", signature)
            raw.flush()
            os.fsync(raw.fileno())
        sha, size = hashlib.sha256(), 0
        with open(temporary, "rb") as handle:
            while chunk := handle.read(1 << 20):
                sha.update(chunk)
                size += len(chunk)
        with transaction.atomic():
            # Under the pack's row lock, and only if this execution still holds the claim:
            # two executions that both finished never both rename their archive and save
            # their hash (the row would name one archive and hold the other's hash).
            held = (
                EvidencePack.objects.select_for_update(of=("self",))
                .filter(tenant=tenant, pk=pack.pk, started_at=pack.started_at)
                .filter(state=EvidencePackState.RUNNING)
                .exists()
            )
            if not held:
                return None
            os.replace(temporary, folder / final_name)
            _finish(tenant, pack, actor, specs, final_name, size, sha.hexdigest())
    except ClaimLost:
        return None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return pack


def _finish(
    tenant: Tenant,
    pack: EvidencePack,
    actor: Actor,
    specs: list[PackSectionSpec],
    final_name: str,
    size: int,
    sha256: str,
) -> None:
    """The pack done: its archive, size and hash saved and ``evidence.pack_built``
    recorded (inside the caller's transaction, which holds the pack's row)."""
    pack.state = EvidencePackState.DONE
    pack.path = f"{tenant.slug}/{final_name}"
    pack.size, pack.sha256 = size, sha256
    pack.finished_at = timezone.now()
    pack.sections_done = len(specs)
    pack.save(update_fields=["state", "path", "size", "sha256", "finished_at", "sections_done"])
    record_event(
        tenant=tenant,
        actor=actor,
        action="evidence.pack_built",
        target=pack,
        details={
            "pack": pack.pk,
            "sections": len(specs),
            "size": size,
            "sha256": pack.sha256,
            "key": evidence_keys.fingerprint(),
        },
    )


def base64_signature(manifest: bytes) -> bytes:
    return base64.b64encode(evidence_keys.sign(manifest)) + b"\n"
