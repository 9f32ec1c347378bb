"""The hash chain: canonical form of an event and verification of a tenant's chain."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from audits.models import GENESIS_HASH

# Order matters: it is the canonical form. Changing it needs a new chain format version.
CHAINED_FIELDS = (
    "tenant_id",
    "sequence",
    "occurred_at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "fields",
    "purpose",
    "request_id",
    "ip",
    "details",
    "prev_hash",
)


def _canonical_time(value: datetime) -> str:
    # Microsecond precision in UTC: what PostgreSQL and SQLite both store and give back.
    return value.astimezone(UTC).isoformat(timespec="microseconds")


_ENCODE = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode


def _hash_payload(payload: list[Any]) -> str:
    return hashlib.sha256(_ENCODE(payload).encode("utf-8")).hexdigest()


def event_hash(values: dict[str, Any]) -> str:
    return _hash_payload(
        [
            _canonical_time(values[name]) if name == "occurred_at" else values[name]
            for name in CHAINED_FIELDS
        ]
    )


@dataclass(frozen=True)
class ChainBreak:
    tenant_id: int
    sequence: int
    event_id: int | None
    reason: str

    def __str__(self) -> str:
        where = f"event {self.event_id}" if self.event_id is not None else "chain head"
        return f"tenant {self.tenant_id}: first broken link at sequence {self.sequence} ({where}): {self.reason}"


def verify_rows(
    tenant_id: int, rows: Iterable[tuple[Any, ...]], head: tuple[int, str] | None
) -> tuple[int, ChainBreak | None]:
    """Check rows (``("id", "hash", *CHAINED_FIELDS)`` without tenant_id, by sequence).

    Returns the number of events checked and the first break, if any.
    """
    expected_prev, expected_sequence, count = GENESIS_HASH, 1, 0
    for row in rows:
        # Positional, in CHAINED_FIELDS order: no per-row dict on this hot path.
        event_id, stored_hash, sequence, occurred_at, *middle, prev_hash = row
        if sequence != expected_sequence:
            reason = (
                f"expected sequence {expected_sequence}, found {sequence} "
                "(an event was deleted or reordered)"
            )
            return count, ChainBreak(tenant_id, expected_sequence, event_id, reason)
        if prev_hash != expected_prev:
            reason = "previous-hash link does not match the preceding event (deleted or reordered)"
            return count, ChainBreak(tenant_id, sequence, event_id, reason)
        payload = [tenant_id, sequence, _canonical_time(occurred_at), *middle, prev_hash]
        if _hash_payload(payload) != stored_hash:
            return count, ChainBreak(
                tenant_id, sequence, event_id, "content does not match its hash (edited)"
            )
        expected_prev, expected_sequence, count = stored_hash, sequence + 1, count + 1
    if head is not None and (head[0] != expected_sequence - 1 or head[1] != expected_prev):
        reason = (
            f"the chain head records sequence {head[0]}, the log ends at "
            f"{expected_sequence - 1} (newest events were removed, or the head was edited)"
        )
        return count, ChainBreak(tenant_id, expected_sequence, None, reason)
    return count, None
