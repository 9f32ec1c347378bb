"""The hash chain: canonical form of an event and verification of a tenant's chain."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from audits.models import GENESIS_HASH as GENESIS_HASH  # re-exported: callers import it here
from audits.models import stripe_genesis

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


def payload_parts(values: dict[str, Any]) -> tuple[str, str]:
    """The canonical payload of ``values`` on either side of its sequence, for a database
    that chains events itself (``audits.services.chained_append_sql``):
    ``prefix + str(sequence) + middle + '"' + prev_hash + '"]'`` is exactly the text
    ``event_hash`` hashes (a hex hash needs no escaping; tests hold the two equal)."""
    middle = [
        _ENCODE(_canonical_time(values[name]) if name == "occurred_at" else values[name])
        for name in CHAINED_FIELDS[2:-1]
    ]
    return f"[{_ENCODE(values['tenant_id'])},", "," + ",".join(middle) + ","


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
    stripe: int = 0

    def __str__(self) -> str:
        where = f"event {self.event_id}" if self.event_id is not None else "chain head"
        return (
            f"tenant {self.tenant_id}: first broken link at sequence {self.sequence} of "
            f"stripe {self.stripe} ({where}): {self.reason}"
        )


_loads = json.JSONDecoder().decode
_quote = json.encoder.encode_basestring  # what _ENCODE writes for a str (ensure_ascii=False)
_canonical_cache: dict[str, str] = {}


def _canonical_json(text: str) -> str:
    """The canonical encoding of a JSON column given as text (``fields`` repeats a few
    values across millions of events: those are remembered)."""
    canonical = _canonical_cache.get(text)
    if canonical is None:
        canonical = _ENCODE(_loads(text))
        if len(_canonical_cache) < 4096:
            _canonical_cache[text] = canonical
    return canonical


def _text_digest(
    tenant_id: int, sequence: int, occurred_at: str, middle: list[Any], prev: str
) -> str:
    """``_hash_payload`` of a row given as text, written piece by piece: the same bytes
    as encoding the decoded list (tests hold the two equal)."""
    actor, action, object_type, object_id, fields, purpose, request_id, ip, details = middle
    text = (
        f"[{tenant_id},{sequence},{_quote(occurred_at)},{_quote(actor)},{_quote(action)},"
        f"{_quote(object_type)},{_quote(object_id)},{_canonical_json(fields)},"
        f"{_quote(purpose)},{_quote(request_id)},{'null' if ip is None else _quote(ip)},"
        f"{_canonical_json(details)},{_quote(prev)}]"
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Walked:
    """What ``walk`` found over consecutive rows of one stripe: how many verified, the
    first break, and the ends (the first row's sequence, previous hash and id; the last
    verified row's sequence and hash) by which ranges checked apart are joined."""

    count: int
    chain_break: ChainBreak | None
    first: tuple[int, str, int] | None  # (sequence, prev_hash, event id)
    last: tuple[int, str] | None  # (sequence, hash)


def walk(
    tenant_id: int,
    rows: Iterable[tuple[Any, ...]],
    *,
    stripe: int = 0,
    start: tuple[int, str] | None = None,
    as_text: bool = False,
) -> Walked:
    """Check rows of one stripe (``("id", "hash", *CHAINED_FIELDS)`` without tenant_id, by
    sequence) from ``start`` (expected first sequence and previous hash); with no
    ``start``, the first row's sequence and link are taken as they are (a range in the
    middle: the caller compares them with the range before, ``audits.verification``).

    With ``as_text`` the database gave ``occurred_at`` already in its canonical text and
    the two JSON columns as JSON text (``verification`` on PostgreSQL): no date-time
    objects are built.
    """
    expected_sequence: int | None
    expected_prev: str | None
    expected_sequence, expected_prev = start if start is not None else (None, None)
    count, first = 0, None
    for row in rows:
        # Positional, in CHAINED_FIELDS order: no per-row dict on this hot path.
        event_id, stored_hash, sequence, occurred_at, *middle, prev_hash = row
        sequence = int(sequence)
        if first is None:
            first = (sequence, prev_hash, int(event_id))
            if expected_sequence is None:
                expected_sequence, expected_prev = sequence, prev_hash
        if sequence != expected_sequence:
            reason = (
                f"expected sequence {expected_sequence}, found {sequence} "
                "(an event was deleted or reordered)"
            )
            found = ChainBreak(
                tenant_id, int(expected_sequence or 0), int(event_id), reason, stripe
            )
            return Walked(count, found, first, _last(expected_sequence, expected_prev))
        if prev_hash != expected_prev:
            reason = "previous-hash link does not match the preceding event (deleted or reordered)"
            found = ChainBreak(tenant_id, sequence, int(event_id), reason, stripe)
            return Walked(count, found, first, _last(expected_sequence, expected_prev))
        if as_text:
            digest = _text_digest(tenant_id, sequence, occurred_at, middle, prev_hash)
        else:
            payload = [tenant_id, sequence, _canonical_time(occurred_at), *middle, prev_hash]
            digest = _hash_payload(payload)
        if digest != stored_hash:
            reason = "content does not match its hash (edited)"
            found = ChainBreak(tenant_id, sequence, int(event_id), reason, stripe)
            return Walked(count, found, first, _last(expected_sequence, expected_prev))
        expected_prev, expected_sequence, count = stored_hash, sequence + 1, count + 1
    return Walked(count, None, first, _last(expected_sequence, expected_prev))


def _last(expected_sequence: int | None, expected_prev: str | None) -> tuple[int, str] | None:
    if expected_sequence is None or expected_prev is None:
        return None
    return expected_sequence - 1, expected_prev


def head_break(
    tenant_id: int, stripe: int, end: tuple[int, str], head: tuple[int, str]
) -> ChainBreak | None:
    """The stripe's verified end (sequence, hash) against its head."""
    if head[0] == end[0] and head[1] == end[1]:
        return None
    reason = (
        f"the chain head records sequence {head[0]}, the log ends at "
        f"{end[0]} (newest events were removed, or the head was edited)"
    )
    return ChainBreak(tenant_id, end[0] + 1, None, reason, stripe)


def verify_rows(
    tenant_id: int,
    rows: Iterable[tuple[Any, ...]],
    head: tuple[int, str] | None,
    *,
    as_text: bool = False,
    stripe: int = 0,
) -> tuple[int, ChainBreak | None]:
    """Check one whole stripe's rows (``walk`` from its genesis), then its ``head``.
    Returns the number of events checked and the first break, if any."""
    walked = walk(
        tenant_id, rows, stripe=stripe, start=(1, stripe_genesis(stripe)), as_text=as_text
    )
    if walked.chain_break is not None or head is None:
        return walked.count, walked.chain_break
    last = walked.last or (0, stripe_genesis(stripe))  # a start was given: never None
    return walked.count, head_break(tenant_id, stripe, last, head)


def heads_digest(heads: Iterable[tuple[int, str]]) -> str:
    """One hash over every stripe's head ((sequence, hash), by stripe from 0): what an
    anchor of a striped chain signs (``audits.anchoring``, decision 0019)."""
    text = "\n".join(
        f"{stripe}:{sequence}:{hash_}" for stripe, (sequence, hash_) in enumerate(heads)
    )
    return hashlib.sha256(text.encode()).hexdigest()
