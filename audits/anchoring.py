"""Anchoring each tenant's audit chain head outside the database (issue 20, point 5).

Every hour (``audits.tasks.anchor_audit_chains``) the tenant's chain head — sequence and
hash — is written, with the time and a MAC, as one JSON line to every registered anchor
sink (``audits.anchor_sinks``): audits' local folder, the backup location and the erasure
ledger's side. The MAC is HMAC-SHA256 under the anchoring key ring
(``settings.BAOMI_ANCHOR_KEY_RING``: configuration, never the database) over the line's
canonical JSON, which holds the tenant's id, so a line moved to another tenant's file, or
edited, does not verify. ``prev`` is the MAC of the tenant's previous anchor, so a line
removed from the middle of every sink is noticed too.

``check_anchors`` (run by ``verify_audit_chain`` and the nightly job) reads the anchors back
from the sinks — never from the database, which whoever rewrote the chain also controls —
and checks each one against the chain by fetching just the anchored sequences. See
docs/decisions/0017-chain-anchoring.md for what this does and does not detect.

``ChainAnchor`` rows copy each anchor into the database for display only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from audits.anchor_sinks import AnchorFileMissing, AnchorSinkError, anchor_sinks
from audits.chain import heads_digest
from audits.models import AuditChainHead, AuditEvent, ChainAnchor
from audits.panels import SUPERVISORS
from audits.services import record_event
from tenants.actors import Actor, SystemActor
from tenants.models import Tenant
from tenants.roles import has_role
from tenants.scoping import tenant_scope

logger = logging.getLogger(__name__)

ANCHOR_ACTOR = SystemActor("anchoring")
FORMAT = 1
#: An anchor of a striped chain (decision 0019): ``stripes`` lists every stripe's head as
#: [sequence, hash], ``sequence`` is their total and ``hash`` their digest
#: (``audits.chain.heads_digest``).
STRIPED_FORMAT = 2
_FETCH = 5000  # anchored sequences fetched per query


class NoAnchorSink(RuntimeError):
    """No sink is configured: an anchor would exist in the database only."""


def _ring() -> dict[int, bytes]:
    return settings.BAOMI_ANCHOR_KEY_RING


def _canonical(body: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(body), sort_keys=True, separators=(",", ":")).encode()


def anchor_mac(body: Mapping[str, Any], key: bytes) -> str:
    """HMAC-SHA256 of the anchor's canonical JSON (every key but ``mac``, and ``sinks``,
    which an export adds to say where the line was found: an exported line verifies as
    it is)."""
    unsigned = {name: value for name, value in body.items() if name not in ("mac", "sinks")}
    return hmac.new(key, _canonical(unsigned), hashlib.sha256).hexdigest()


def mac_is_valid(record: Mapping[str, Any]) -> bool:
    version, mac = record.get("v"), record.get("mac")
    key = _ring().get(version) if isinstance(version, int) else None
    if key is None or not isinstance(mac, str):
        return False
    return hmac.compare_digest(mac, anchor_mac(record, key))


def hour_of(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class AnchorResult:
    anchor: ChainAnchor
    created: bool  # False: this hour's anchor existed already (a second run)


def body_of(anchor: ChainAnchor) -> dict[str, Any]:
    """The anchor's line, as the sinks keep it (an anchor from before stripes, with none,
    exactly as it was written)."""
    striped = {"stripes": anchor.stripes} if anchor.stripes else {}
    return {
        "format": STRIPED_FORMAT if anchor.stripes else FORMAT,
        **striped,
        "tenant": anchor.tenant_id,
        "sequence": int(anchor.sequence),
        "hash": anchor.hash,
        "hour": anchor.hour.astimezone(dt.UTC).isoformat(),
        "anchored_at": anchor.anchored_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "prev": anchor.prev,
        "v": anchor.key_version,
        "mac": anchor.mac,
    }


def _claim(tenant: Tenant, hour: dt.datetime, now: dt.datetime, version: int) -> ChainAnchor | None:
    """The hour's anchor of the chain head as it is now, saved; None if another run saved
    one first (the caller's transaction is open, inside the tenant's scope)."""
    heads = list(
        AuditChainHead.objects.filter(tenant=tenant)
        .order_by("stripe")
        .values_list("sequence", "hash")
    )
    pairs = [(int(sequence), str(hash_)) for sequence, hash_ in heads]
    stripes: list[list[Any]] = [[sequence, hash_] for sequence, hash_ in pairs]
    sequence = sum(entry[0] for entry in pairs)
    head_hash = heads_digest(pairs) if pairs else "0" * 64
    previous = (
        ChainAnchor.objects.filter(tenant=tenant, hour__lt=hour)
        .order_by("-hour")
        .values_list("mac", flat=True)
        .first()
    )
    anchor = ChainAnchor(
        tenant=tenant,
        hour=hour,
        anchored_at=now,
        sequence=int(sequence),
        hash=head_hash,
        stripes=stripes,
        prev=previous or "",
        key_version=version,
    )
    anchor.mac = anchor_mac(body_of(anchor), _ring()[version])
    try:
        with transaction.atomic():
            anchor.save()
    except IntegrityError:
        return None
    return anchor


def anchor_chain_head(
    *, tenant: Tenant, actor: Actor = ANCHOR_ACTOR, now: dt.datetime | None = None
) -> AnchorResult:
    """Anchor ``tenant``'s chain head for the hour of ``now``: once per tenant and hour,
    however often it runs (the ``ChainAnchor`` row of the hour is claimed first, in its own
    transaction, then locked while the sinks are written: two runs at once write it once).
    One sink failing does not stop the others, and is recorded (``sinks_failed``) and
    audited (``anchors.sink_failed``).
    Raises ``NoAnchorSink`` when no sink is configured."""
    sinks = anchor_sinks()
    if not sinks:
        raise NoAnchorSink("no anchor sink is configured (BAOMI_ANCHOR_DIR, BACKUP_DIR)")
    now = now or timezone.now()
    hour = hour_of(now)
    version = max(_ring())
    with tenant_scope(tenant):
        with transaction.atomic():
            existing = ChainAnchor.objects.filter(tenant=tenant, hour=hour).first()
            if existing is not None and (existing.sinks_written or existing.sinks_failed):
                return AnchorResult(existing, created=False)
            if existing is not None:
                # Claimed by a run that stopped before writing (a lost worker): finish it,
                # or the next anchor would name one that no sink holds.
                anchor = existing
            else:
                anchor = _claim(tenant, hour, now, version)
                if anchor is None:  # another run claimed the hour meanwhile
                    return AnchorResult(
                        ChainAnchor.objects.get(tenant=tenant, hour=hour), created=False
                    )
        with transaction.atomic():
            # The writer holds the claimed row until its sinks are recorded: a run that
            # comes meanwhile (the claimer's own, or one finishing a lost worker's claim)
            # finds it locked and leaves it, so the hour is written to the sinks once.
            locked = (
                ChainAnchor.objects.select_for_update(skip_locked=True).filter(pk=anchor.pk).first()
            )
            if locked is None or locked.sinks_written or locked.sinks_failed:
                return AnchorResult(ChainAnchor.objects.get(pk=anchor.pk), created=False)
            anchor = locked
            body = body_of(anchor)
            written, failed = [], []
            for sink in sinks:
                try:
                    sink.write(tenant.pk, body)
                    written.append(sink.name)
                except Exception as error:  # one sink down must not stop the others
                    logger.warning("anchor of tenant %s: %s", tenant.pk, error)
                    failed.append(sink.name)
            anchor.sinks_written, anchor.sinks_failed = written, failed
            anchor.save(update_fields=["sinks_written", "sinks_failed"])
            if failed:
                record_event(
                    tenant=tenant,
                    actor=actor,
                    action="anchors.sink_failed",
                    target=anchor,
                    details={"sequence": anchor.sequence, "sinks": failed, "written": written},
                )
    return AnchorResult(anchor, created=True)


# --- checking ------------------------------------------------------------------------------


@dataclass
class AnchorReport:
    """What ``check_anchors`` found: anchors checked (valid MAC, of this tenant), anchors
    failed (forged, or not matching the chain) and every problem in words."""

    checked: int = 0
    failed: int = 0
    problems: list[str] = field(default_factory=list)
    sinks_read: list[str] = field(default_factory=list)
    failed_sequences: list[int] = field(default_factory=list)  # anchored, not matching
    newest: dict[str, Any] | None = None  # the newest valid anchor

    @property
    def ok(self) -> bool:
        return not self.problems


def _known_write_failures(tenant: Tenant) -> dict[str, set[str]]:
    """Anchors a sink is known to lack since their write failed (mac -> sink names): the
    database can excuse a missing line, never vouch for a hash."""
    rows = ChainAnchor.objects.filter(tenant=tenant).exclude(sinks_failed=[])
    return {mac: set(failed) for mac, failed in rows.values_list("mac", "sinks_failed")}


def _read_sinks(tenant: Tenant, report: AnchorReport) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    missing: list[str] = []
    for sink in anchor_sinks():
        try:
            found[sink.name] = sink.read(tenant.pk)
            report.sinks_read.append(sink.name)
        except AnchorFileMissing:
            missing.append(sink.name)
        except AnchorSinkError as error:
            report.problems.append(str(error))
        except Exception as error:  # a sink's own failure is reported, not raised
            report.problems.append(f"the anchor sink {sink.name} failed ({type(error).__name__})")
    anchored_somewhere = any(found.values())
    # The sinks the anchor list says were written (a few distinct lists: works on SQLite too).
    recorded: set[str] = set()
    for names in (
        ChainAnchor.objects.filter(tenant=tenant).values_list("sinks_written", flat=True).distinct()
    ):
        recorded.update(names or [])
    for name in missing:
        if anchored_somewhere or name in recorded:
            report.problems.append(
                f"the anchor sink {name} has lost this tenant's anchor file "
                "(other sinks or the anchor list say it was written)"
            )
    return found


def _valid_anchors(
    tenant: Tenant, found: Mapping[str, list[dict[str, Any]]], report: AnchorReport
) -> dict[str, dict[str, Any]]:
    """The anchors whose MAC verifies, by MAC; forged lines are problems."""
    valid: dict[str, dict[str, Any]] = {}
    for name, records in found.items():
        for number, record in enumerate(records, start=1):
            if not mac_is_valid(record):
                report.failed += 1
                report.problems.append(
                    f"the anchor sink {name}: line {number} is forged or altered "
                    "(its MAC does not verify)"
                )
            elif record.get("tenant") != tenant.pk:
                report.failed += 1
                report.problems.append(
                    f"the anchor sink {name}: line {number} is another tenant's anchor"
                )
            else:
                valid.setdefault(record["mac"], record)
    return valid


def _compare_sinks(
    tenant: Tenant,
    found: Mapping[str, list[dict[str, Any]]],
    valid: Mapping[str, dict[str, Any]],
    report: AnchorReport,
) -> None:
    excused = _known_write_failures(tenant)
    held = {name: {record.get("mac") for record in records} for name, records in found.items()}
    for name, macs in sorted(held.items()):
        lacking = [
            valid[mac] for mac in valid if mac not in macs and name not in excused.get(mac, set())
        ]
        if lacking:
            sequences = ", ".join(str(a["sequence"]) for a in _in_order(lacking)[:5])
            report.problems.append(
                f"the anchor sinks disagree: {name} lacks {len(lacking)} anchor(s) "
                f"the others hold (sequence {sequences})"
            )
    macs = set(valid)
    for anchor in _in_order(valid.values()):
        if anchor["prev"] and anchor["prev"] not in macs:
            report.problems.append(
                f"the anchor before sequence {anchor['sequence']} is missing from every sink"
            )


def _in_order(anchors: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(anchors, key=lambda a: (str(a.get("hour")), int(a.get("sequence", 0))))


def _chunks(values: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(values), _FETCH):
        yield values[start : start + _FETCH]


def _where(stripe: int, sequence: int) -> str:
    # Stripe 0 is the chain from before stripes: its places read as they always did.
    return f"sequence {sequence}" if stripe == 0 else f"sequence {sequence} of stripe {stripe}"


def _anchored_heads(anchor: Mapping[str, Any]) -> list[tuple[int, int, str]] | None:
    """(stripe, sequence, hash) of each head the anchor names; None if a striped anchor's
    stripes do not give its total and digest."""
    stripes = anchor.get("stripes")
    if anchor.get("format") != STRIPED_FORMAT or not isinstance(stripes, list):
        return [(0, int(anchor["sequence"]), str(anchor["hash"]))]
    try:
        heads = [(int(sequence), str(hash_)) for sequence, hash_ in stripes]
    except (TypeError, ValueError):
        return None
    if sum(sequence for sequence, _ in heads) != int(anchor["sequence"]) or not (
        hmac.compare_digest(heads_digest(heads), str(anchor["hash"]))
    ):
        return None
    return [(stripe, sequence, hash_) for stripe, (sequence, hash_) in enumerate(heads)]


def _compare_chain(
    tenant: Tenant,
    valid: Mapping[str, dict[str, Any]],
    heads: Mapping[int, int],
    report: AnchorReport,
) -> None:
    anchors = _in_order(valid.values())
    named = {anchor["mac"]: _anchored_heads(anchor) for anchor in anchors}
    wanted: dict[int, set[int]] = {}
    for entries in named.values():
        for stripe, sequence, _hash in entries or []:
            if sequence > 0:
                wanted.setdefault(stripe, set()).add(sequence)
    stored: dict[tuple[int, int], str] = {}
    for stripe, sequences in wanted.items():
        for chunk in _chunks(sorted(sequences)):
            rows = AuditEvent.objects.filter(
                tenant=tenant, stripe=stripe, sequence__in=chunk
            ).values_list("sequence", "hash")
            stored.update(((stripe, int(sequence)), hash_) for sequence, hash_ in rows)
    failed: set[tuple[int, int]] = set()
    for anchor in anchors:
        report.checked += 1
        entries = named[anchor["mac"]]
        if entries is None:
            report.failed += 1
            report.problems.append(
                f"the anchor of {anchor['anchored_at']} does not add up: its stripes do not "
                "give its sequence and hash"
            )
            continue
        broken = False
        for stripe, sequence, hash_ in entries:
            problem = _anchored_problem(stripe, sequence, hash_, anchor, heads, stored)
            if problem is None:
                continue
            broken = True
            if (stripe, sequence) not in failed:
                failed.add((stripe, sequence))
                report.failed_sequences.append(sequence)
                report.problems.append(problem)
        if broken:
            report.failed += 1
    if anchors:
        report.newest = anchors[-1]


def _anchored_problem(
    stripe: int,
    sequence: int,
    hash_: str,
    anchor: Mapping[str, Any],
    heads: Mapping[int, int],
    stored: Mapping[tuple[int, int], str],
) -> str | None:
    if sequence == 0:
        return None
    head_sequence = heads.get(stripe, 0)
    where = _where(stripe, sequence)
    if sequence > head_sequence:
        ends = _where(stripe, head_sequence)
        return (
            f"the chain ends at {ends}, below the anchored {where} "
            f"(anchored {anchor['anchored_at']}): events were removed"
        )
    if (stripe, sequence) not in stored:
        return f"the anchored event at {where} is missing from the log"
    if not hmac.compare_digest(stored[(stripe, sequence)], hash_):
        return (
            f"the event at {where} does not have the hash anchored "
            f"{anchor['anchored_at']}: the chain was rewritten"
        )
    return None


def _check_fresh(
    tenant: Tenant, head_sequence: int, stale_after: dt.timedelta, report: AnchorReport
) -> None:
    # head_sequence: the events of every stripe.
    """Anchoring runs hourly: a chain older than ``stale_after`` whose newest anchor is older
    too (or that has none) lost its anchors, or anchoring stopped."""
    since = timezone.now() - stale_after
    newest = report.newest
    if head_sequence == 0 or (
        newest is not None and dt.datetime.fromisoformat(newest["anchored_at"]) >= since
    ):
        return
    started = (
        AuditEvent.objects.filter(tenant=tenant, sequence=1)
        .order_by("occurred_at")
        .values_list("occurred_at", flat=True)
        .first()
    )
    if started is None or started >= since:
        return  # a chain younger than that: its first anchor may still come
    hours = int(stale_after.total_seconds() // 3600)
    report.problems.append(
        f"no anchor of the chain head in the last {hours} hours "
        "(anchoring stopped, or the newest anchors were removed from every sink)"
    )


def check_anchors(
    tenant: Tenant,
    *,
    head_sequence: int | Mapping[int, int],
    stale_after: dt.timedelta | None = None,
) -> AnchorReport:
    """Check ``tenant``'s anchors, read from every sink, against its chain (whose stripes
    end at ``head_sequence``, stripe -> sequence, according to the verification that just
    ran; a number is stripe 0's, the chain from before stripes): each MAC, each anchored
    head's event hash in every stripe (one query per stripe and 5000 anchors, no second
    pass over the chain), no stripe below any anchored sequence, and the sinks agreeing;
    with ``stale_after``, that an anchor that recent exists."""
    heads = {0: head_sequence} if isinstance(head_sequence, int) else dict(head_sequence)
    report = AnchorReport()
    with tenant_scope(tenant):
        found = _read_sinks(tenant, report)
        valid = _valid_anchors(tenant, found, report)
        _compare_sinks(tenant, found, valid, report)
        _compare_chain(tenant, valid, heads, report)
        if stale_after is not None:
            _check_fresh(tenant, sum(heads.values()), stale_after, report)
    return report


def read_anchors(tenant: Tenant) -> tuple[list[dict[str, Any]], list[str]]:
    """Every anchor of ``tenant`` held by any sink (each once, in order, with the names of
    the sinks holding it), for export; and the problems met reading the sinks."""
    report = AnchorReport()
    with tenant_scope(tenant):
        found = _read_sinks(tenant, report)
    holders: dict[str, list[str]] = {}
    anchors: dict[str, dict[str, Any]] = {}
    for name, records in found.items():
        for record in records:
            mac = str(record.get("mac"))
            anchors.setdefault(mac, record)
            holders.setdefault(mac, []).append(name)
    out = [
        {**anchor, "sinks": holders[str(anchor.get("mac"))]}
        for anchor in _in_order(anchors.values())
    ]
    return out, report.problems


# --- exporting -----------------------------------------------------------------------------


def export_anchors(
    *, tenant: Tenant, actor: Actor, via: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every anchor of ``tenant`` read from the sinks, with its MAC and the sinks holding it,
    for an auditor to keep (``export_audit_anchors``, the back office's download); the
    problems met reading the sinks. Supervisors only (or a system actor); audited as
    ``anchors.exported``."""
    if not isinstance(actor, SystemActor) and not has_role(actor, *SUPERVISORS):
        raise PermissionDenied
    anchors, problems = read_anchors(tenant)
    with tenant_scope(tenant), transaction.atomic():
        record_event(
            tenant=tenant,
            actor=actor,
            action="anchors.exported",
            details={"anchors": len(anchors), "via": via},
        )
    return anchors, problems


def as_json_lines(anchors: Iterable[Mapping[str, Any]]) -> str:
    return "".join(
        json.dumps(dict(a), sort_keys=True, separators=(",", ":")) + "\n" for a in anchors
    )
