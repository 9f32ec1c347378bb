"""The evidence pack's signing key (issue 20, point 6): an Ed25519 key from configuration
(``settings.BAOMI_EVIDENCE_SIGNING_KEY``, read by config.env: a development key under
var/, production refuses to start without one; never in the repository). The manifest of
each pack is signed with it; regulators check the signature with its public half, which
``export_evidence_public_key`` prints and which a pack names by its fingerprint."""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

ALGORITHM = "Ed25519"


def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(settings.BAOMI_EVIDENCE_SIGNING_KEY)


def public_key() -> Ed25519PublicKey:
    return signing_key().public_key()


def public_key_pem(key: Ed25519PublicKey | None = None) -> str:
    """The public key as a SubjectPublicKeyInfo PEM block (``openssl pkey -pubin`` reads it)."""
    return (
        (key or public_key())
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def fingerprint(key: Ed25519PublicKey | None = None) -> str:
    """``SHA256:<hex>`` of the raw 32-byte public key."""
    raw = (key or public_key()).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return f"SHA256:{hashlib.sha256(raw).hexdigest()}"


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """A public key from a PEM file; ``ValueError`` if it is not an Ed25519 public key."""
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("The file does not hold an Ed25519 public key.")
    return key


def sign(message: bytes) -> bytes:
    return signing_key().sign(message)


def signature_valid(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True
