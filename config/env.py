"""Reading configuration from the environment (12-factor) and the demo's local files.

Nothing here generates a secret silently: the demo's local files under ``var/`` are
created only when ``BAOMI_ENV`` is ``development`` (``make demo`` sets it) or ``test`` and
the operator is told. In ``production`` — also what an unset ``BAOMI_ENV`` means — a missing
secret stops the process.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

ENVIRONMENTS = ("development", "test", "production")


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {value!r}.")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    value = env_str(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}.") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}.")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = env_str(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def baomi_environment() -> str:
    """The posture; unset means production, so a forgotten variable fails closed (DEBUG
    off, no generated secrets). The Makefile, scripts/demo.py, bench/run.py and the tests'
    subprocesses set their own."""
    value = env_str("BAOMI_ENV", "production") or "production"
    if value not in ENVIRONMENTS:
        raise ImproperlyConfigured(
            f"BAOMI_ENV must be one of {', '.join(ENVIRONMENTS)}; got {value!r}."
        )
    return value


def _write_private_file(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Two processes starting at once (web, worker, beat) must neither both write nor read a
    # half-written file: the content goes to a private temporary file first, which is then
    # linked into place (atomic; refused if the file exists meanwhile: the other one won).
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return
    finally:
        os.unlink(temporary)
    print(f"baomi: created {path} (development only; never used in production)", file=sys.stderr)


def local_file_secret(path: Path, make: Callable[[], str]) -> str:
    """Read a development secret from ``path``, creating it once with ``make()``."""
    if not path.exists():
        _write_private_file(path, make())
    return path.read_text().strip()


def new_secret_key() -> str:
    return secrets.token_urlsafe(50)


def new_master_key_line(version: int = 1) -> str:
    return f"{version}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def parse_master_key_ring(text: str, *, source: str) -> dict[int, bytes]:
    """Parse ``"2:<base64>,1:<base64>"`` into ``{version: 32-byte key}``.

    The highest version encrypts; older versions only decrypt until re-wrapped.
    """
    ring: dict[int, bytes] = {}
    entries = [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]
    if not entries:
        raise ImproperlyConfigured(f"{source} holds no master key.")
    for position, entry in enumerate(entries, start=1):
        version_text, sep, key_text = entry.partition(":")
        if not sep:
            raise ImproperlyConfigured(
                f"{source}: entry {position} must look like '<version>:<base64 key>'."
            )
        try:
            version = int(version_text)
        except ValueError:
            raise ImproperlyConfigured(
                f"{source}: entry {position} has a non-numeric version."
            ) from None
        if version < 1:
            raise ImproperlyConfigured(f"{source}: entry {position} has a version below 1.")
        if version in ring:
            raise ImproperlyConfigured(f"{source}: version {version} appears twice.")
        try:
            key = base64.b64decode(key_text, validate=True)
        except ValueError:
            raise ImproperlyConfigured(
                f"{source}: the key of version {version} is not valid base64."
            ) from None
        if len(key) != 32:
            raise ImproperlyConfigured(
                f"{source}: the key of version {version} must be 32 bytes (AES-256), "
                f"got {len(key)}."
            )
        ring[version] = key
    return ring


def load_key_ring(
    *, name: str, what: str, environment: str, var_dir: Path, dev_file: str
) -> dict[int, bytes]:
    """A versioned key ring from ``<name>`` or ``<name>_FILE``; created under var/ outside
    production, refused in production when missing."""
    inline = env_str(name)
    path_text = env_str(f"{name}_FILE")
    if inline and path_text:
        raise ImproperlyConfigured(f"Set either {name} or {name}_FILE, not both.")
    if inline:
        return parse_master_key_ring(inline, source=name)
    if path_text:
        path = Path(path_text)
        if not path.is_file():
            raise ImproperlyConfigured(f"{name}_FILE {path} does not exist.")
        return parse_master_key_ring(path.read_text(), source=f"{name}_FILE {path}")
    if environment == "production":
        raise ImproperlyConfigured(
            f"No {what} is configured. Set {name} or {name}_FILE "
            "(see docs/architecture.md); production never generates one."
        )
    path = var_dir / dev_file
    return parse_master_key_ring(
        local_file_secret(path, new_master_key_line), source=f"the development key file {path}"
    )


def load_master_key_ring(*, environment: str, var_dir: Path) -> dict[int, bytes]:
    return load_key_ring(
        name="BAOMI_MASTER_KEYS",
        what="privacy master key",
        environment=environment,
        var_dir=var_dir,
        dev_file="master_keys",
    )


def load_backup_key_ring(*, environment: str, var_dir: Path) -> dict[int, bytes]:
    """The keys of backup files: separate from the master key, so that whoever holds the
    backups and their key still cannot open the vault's tenant keys."""
    return load_key_ring(
        name="BAOMI_BACKUP_KEYS",
        what="backup key",
        environment=environment,
        var_dir=var_dir,
        dev_file="backup_keys",
    )


def load_anchor_key_ring(*, environment: str, var_dir: Path) -> dict[int, bytes]:
    """The keys of the audit chain's anchors (HMAC-SHA256, audits/anchoring.py): outside
    the database, so that whoever rewrites the audit log in the database cannot write
    anchors that verify; separate from every other key. A ring, so that anchors written
    under an older version still verify after a new one is added."""
    return load_key_ring(
        name="BAOMI_ANCHOR_KEYS",
        what="audit anchoring key",
        environment=environment,
        var_dir=var_dir,
        dev_file="anchor_keys",
    )


def _decode_key(text: str, *, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raise ImproperlyConfigured(f"{source} is not valid base64.") from None
    if len(key) < 32:
        raise ImproperlyConfigured(f"{source} must hold at least 32 random bytes, got {len(key)}.")
    return key


def load_hmac_key(*, environment: str, var_dir: Path) -> bytes:
    """The key of the keyed hashes of tokens, delivery PINs and one-time codes.

    Kept outside the database (a plain hash of a 6-digit PIN falls to brute force from a
    dump in seconds); separate from SECRET_KEY and from the master key ring.
    """
    inline = env_str("BAOMI_HMAC_KEY")
    path_text = env_str("BAOMI_HMAC_KEY_FILE")
    if inline and path_text:
        raise ImproperlyConfigured("Set either BAOMI_HMAC_KEY or BAOMI_HMAC_KEY_FILE, not both.")
    if inline:
        return _decode_key(inline, source="BAOMI_HMAC_KEY")
    if path_text:
        path = Path(path_text)
        if not path.is_file():
            raise ImproperlyConfigured(f"BAOMI_HMAC_KEY_FILE {path} does not exist.")
        return _decode_key(path.read_text(), source=f"BAOMI_HMAC_KEY_FILE {path}")
    if environment == "production":
        raise ImproperlyConfigured(
            "No hashing key is configured. Set BAOMI_HMAC_KEY or BAOMI_HMAC_KEY_FILE "
            "(base64 of 32 random bytes); production never generates one."
        )
    path = var_dir / "hmac_key"
    new = lambda: base64.b64encode(secrets.token_bytes(32)).decode()  # noqa: E731
    return _decode_key(local_file_secret(path, new), source=f"the development key file {path}")


def _parse_signing_key(text: str, *, source: str) -> bytes:
    """An Ed25519 private key as base64 of its 32-byte seed, or as a PKCS#8 PEM block
    (``openssl genpkey -algorithm ed25519``); returns the 32-byte seed."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError):
            raise ImproperlyConfigured(f"{source} is not a readable unencrypted PEM key.") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ImproperlyConfigured(f"{source} must hold an Ed25519 private key.")
        return key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
    try:
        seed = base64.b64decode(text, validate=True)
    except ValueError:
        raise ImproperlyConfigured(f"{source} is not valid base64 nor a PEM key.") from None
    if len(seed) != 32:
        raise ImproperlyConfigured(
            f"{source} must hold an Ed25519 private key: 32 bytes in base64, got {len(seed)}."
        )
    return seed


def load_evidence_signing_key(*, environment: str, var_dir: Path) -> bytes:
    """The Ed25519 private key (its 32-byte seed) that signs evidence packs' manifests
    (audits.evidence_keys, issue 20): from BAOMI_EVIDENCE_SIGNING_KEY (base64 of the seed)
    or BAOMI_EVIDENCE_SIGNING_KEY_FILE (the same, or a PEM file); created under var/
    outside production, refused in production when missing. Separate from every other key:
    whoever checks a pack holds only its public half."""
    name = "BAOMI_EVIDENCE_SIGNING_KEY"
    inline = env_str(name)
    path_text = env_str(f"{name}_FILE")
    if inline and path_text:
        raise ImproperlyConfigured(f"Set either {name} or {name}_FILE, not both.")
    if inline:
        return _parse_signing_key(inline, source=name)
    if path_text:
        path = Path(path_text)
        if not path.is_file():
            raise ImproperlyConfigured(f"{name}_FILE {path} does not exist.")
        return _parse_signing_key(path.read_text(), source=f"{name}_FILE {path}")
    if environment == "production":
        raise ImproperlyConfigured(
            "No evidence pack signing key is configured. Set BAOMI_EVIDENCE_SIGNING_KEY or "
            "BAOMI_EVIDENCE_SIGNING_KEY_FILE (an Ed25519 private key); production never "
            "generates one."
        )
    path = var_dir / "evidence_signing_key"
    new = lambda: base64.b64encode(secrets.token_bytes(32)).decode()  # noqa: E731
    return _parse_signing_key(
        local_file_secret(path, new), source=f"the development key file {path}"
    )
