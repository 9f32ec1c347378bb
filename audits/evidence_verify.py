"""Checking an evidence pack (issue 20, point 6) without the database: the signature of
``manifest.json`` (``manifest.sig``, base64 of an Ed25519 signature) under a public key,
and every file's size and SHA-256 against the manifest; a file the manifest does not list,
or one it lists that is missing, is a problem too. Used by ``verify_evidence_pack``."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audits.evidence_keys import fingerprint, signature_valid

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"


@dataclass
class Verification:
    problems: list[str] = field(default_factory=list)
    files: int = 0
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def _digest(archive: zipfile.ZipFile, name: str) -> tuple[int, str]:
    sha, size = hashlib.sha256(), 0
    with archive.open(name) as handle:
        while chunk := handle.read(1 << 16):
            sha.update(chunk)
            size += len(chunk)
    return size, sha.hexdigest()


def _check_files(archive: zipfile.ZipFile, manifest: dict[str, Any], result: Verification) -> None:
    listed = manifest.get("files")
    if not isinstance(listed, list):
        result.problems.append("manifest.json lists no files.")
        return
    names = archive.namelist()
    present = set(names)
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        result.problems.append(f"{duplicate}: the archive holds this name more than once.")
    expected: set[str] = set()
    for entry in listed:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            result.problems.append("manifest.json has a file entry without a name.")
            continue
        name = entry["name"]
        expected.add(name)
        if name not in present:
            result.problems.append(f"{name}: listed in the manifest but missing from the archive.")
            continue
        try:
            size, sha256 = _digest(archive, name)
        except (zipfile.BadZipFile, OSError) as error:  # a corrupted member (CRC error)
            result.problems.append(f"{name}: cannot be read ({error}).")
            continue
        result.files += 1
        if size != entry.get("size"):
            result.problems.append(
                f"{name}: size {size} bytes, the manifest says {entry.get('size')}."
            )
        if sha256 != entry.get("sha256"):
            result.problems.append(f"{name}: SHA-256 {sha256} does not match the manifest.")
    for name in sorted(present - expected - {MANIFEST, SIGNATURE}):
        result.problems.append(f"{name}: in the archive but not listed in the manifest.")


def verify_pack(path: Path, key: Ed25519PublicKey) -> Verification:
    """Every problem found in the pack at ``path`` (none: it is intact and signed by
    ``key``'s private half)."""
    result = Verification()
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        result.problems.append(f"{path}: not a readable zip archive ({error}).")
        return result
    with archive:
        names = set(archive.namelist())
        for required in (MANIFEST, SIGNATURE):
            if required not in names:
                result.problems.append(f"{required} is missing from the archive.")
        if result.problems:
            return result
        manifest_bytes = archive.read(MANIFEST)
        try:
            signature = base64.b64decode(archive.read(SIGNATURE).strip(), validate=True)
        except (binascii.Error, ValueError):
            signature = b""
        if not signature_valid(key, signature, manifest_bytes):
            result.problems.append(
                "manifest.sig: the signature does not match manifest.json under the public "
                f"key {fingerprint(key)}."
            )
        try:
            manifest = json.loads(manifest_bytes)
        except ValueError:
            result.problems.append("manifest.json is not valid JSON.")
            return result
        if not isinstance(manifest, dict):
            result.problems.append("manifest.json is not a JSON object.")
            return result
        result.manifest = manifest
        named = (manifest.get("signature") or {}).get("public_key_fingerprint")
        if named != fingerprint(key):
            result.problems.append(
                f"manifest.json names the signing key {named}, not the public key "
                f"{fingerprint(key)} given."
            )
        _check_files(archive, manifest, result)
    return result
