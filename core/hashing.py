"""Keyed hashes of short secrets: API tokens, delivery PINs, one-time codes.

HMAC-SHA256 under settings.BAOMI_HMAC_KEY, a key kept outside the database, with a purpose
label for domain separation. A database dump alone cannot brute-force a 6-digit PIN.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings


def keyed_hash(purpose: str, *parts: object) -> str:
    message = "|".join([purpose, *(str(p) for p in parts)]).encode("utf-8")
    return hmac.new(settings.BAOMI_HMAC_KEY, message, hashlib.sha256).hexdigest()


def keyed_hash_matches(stored: str, purpose: str, *parts: object) -> bool:
    """Constant-time comparison of a stored keyed hash with the hash of ``parts``."""
    return hmac.compare_digest(stored.encode(), keyed_hash(purpose, *parts).encode())
