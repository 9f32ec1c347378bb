"""AES-256-GCM sealing with a versioned header and associated data.

Blob layout: ``format (1 byte) | key version (4 bytes, big-endian) | nonce (12) | ct+tag``.
The header is part of the associated data, followed by the caller's binding (tenant,
table, field, row for personal data; tenant and version for wrapped keys), so a blob only
opens where it was sealed.

Nonces are random 96-bit values. NIST SP 800-38D bounds random-nonce GCM at 2**32
messages per key; see docs/privacy.md for why every Baomi key stays far below it.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privacy.errors import DecryptionIntegrityError, MalformedCiphertextError

FORMAT_V1 = 1
_HEADER = struct.Struct(">BI")
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def header_version(blob: bytes, *, layer: str) -> int:
    """The key version a blob was sealed under (checked format)."""
    if len(blob) < _HEADER.size + NONCE_BYTES + TAG_BYTES:
        raise MalformedCiphertextError(layer, "ciphertext too short")
    fmt, version = _HEADER.unpack_from(blob)
    if fmt != FORMAT_V1:
        raise MalformedCiphertextError(layer, f"unknown ciphertext format {fmt}")
    return version


def seal(cipher: AESGCM, key_version: int, binding: bytes, plaintext: bytes) -> bytes:
    header = _HEADER.pack(FORMAT_V1, key_version)
    nonce = os.urandom(NONCE_BYTES)
    return header + nonce + cipher.encrypt(nonce, plaintext, header + binding)


def open_sealed(cipher: AESGCM, blob: bytes, binding: bytes, *, layer: str) -> bytes:
    header_version(blob, layer=layer)
    header = blob[: _HEADER.size]
    nonce = blob[_HEADER.size : _HEADER.size + NONCE_BYTES]
    try:
        return cipher.decrypt(nonce, blob[_HEADER.size + NONCE_BYTES :], header + binding)
    except InvalidTag:
        raise DecryptionIntegrityError(layer, "authentication tag mismatch") from None


def field_binding(tenant_id: int, table: str, field: str, row_pk: object) -> bytes:
    return f"baomi-field|{tenant_id}|{table}|{field}|{row_pk}".encode()
