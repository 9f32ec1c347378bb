"""Blind index: exact-match search on the phone without decrypting every row.

HMAC-SHA256 under the tenant's index key (stored wrapped by the master key) over the
normalised phone, truncated to ``BITS`` bits. Truncation makes each index value shared by
several subjects at realistic tenant sizes, so the index alone does not single anyone out;
the service decrypts the few candidates and discards false positives. Sizing follows
CipherSweet's planning guide — see docs/privacy.md for the table.
"""

from __future__ import annotations

import hashlib
import hmac

BITS = 14


def phone_index(index_key: bytes, normalised_phone: str) -> int:
    digest = hmac.new(index_key, b"phone|" + normalised_phone.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") >> (32 - BITS)
