"""Keeping the file ledger and the database ledger in step, and replaying the file after a
restore (docs/privacy.md, "Backups and the erasure ledger").

- ``reconcile_ledger`` (beat, the start of every sweep, the start of every restore) appends
  every database-ledger entry that the file lacks, and finishes every written-ahead intent
  whose erasure never committed, so no crash, full disk or failed write leaves the file
  behind for longer than one period.
- ``replay_erasures`` (after a restore) erases again every subject that the file ledger — and
  the ledger copies of the restored backups — name, deleting any key or ciphertext the
  restored databases brought back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.db.models import Max
from django.utils import timezone

from audits.services import record_event
from privacy.backup_store import BackupError
from privacy.backups import Manifest
from privacy.erasure import erase_subjects
from privacy.keys import destroy_subject_keys
from privacy.ledger_file import (
    Checkpoint,
    LedgerLine,
    append_ledger_lines,
    ensure_ledger,
    ledger_exists,
    read_checkpoint,
    read_ledger_copy,
    read_ledger_file,
    read_ledger_tail,
    read_ledger_with_offsets,
    write_checkpoint,
)
from privacy.models import DataSubject, ErasureLedgerEntry, ErasureReason
from tenants.actors import SystemActor
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tenants.selectors import iter_tenants

logger = logging.getLogger(__name__)

RECONCILER = SystemActor("ledger-reconcile")
REPLAY = SystemActor("restore-replay")
RESTORER = SystemActor("restore")
# An intent younger than this may belong to an erasure that is committing right now.
INTENT_GRACE = timedelta(minutes=10)
PAGE = 5000


@dataclass(frozen=True)
class Reconciled:
    appended: int  # database entries the file lacked, now in it
    finished: int  # intents whose erasure had not committed, now erased


def _subject(entry: dict[str, Any]) -> UUID | None:
    try:
        return UUID(str(entry["subject"]))
    except (KeyError, ValueError):
        return None


def _database_subjects(tenant: Tenant) -> Iterator[tuple[int, UUID]]:
    """(id, subject) of the tenant's database ledger in keyset pages: plain tuples, no
    model instance per entry (a reconcile reads every entry the tenant ever made)."""
    after = 0
    while True:
        with tenant_scope(tenant):
            page = list(
                ErasureLedgerEntry.objects.filter(pk__gt=after)
                .order_by("pk")
                .values_list("id", "subject_id")[:PAGE]
            )
        if not page:
            return
        yield from page
        after = page[-1][0]


def _missing_lines(tenant: Tenant, ids: list[int]) -> list[LedgerLine]:
    """The file-ledger lines of these database-ledger entries (those the file lacks)."""
    if not ids:
        return []
    with tenant_scope(tenant):
        rows = ErasureLedgerEntry.objects.filter(pk__any=ids).order_by("pk")
        return [
            LedgerLine(
                tenant.pk,
                str(row.subject_id),
                row.reference,
                str(row.reason),
                row.erased_at,
                kind="reconciled",
            )
            for row in rows.only("id", "subject_id", "reference", "reason", "erased_at")
        ]


def reconcile_ledger(
    *, now: datetime | None = None, grace: timedelta = INTENT_GRACE, incremental: bool = False
) -> Reconciled:
    """Make the file ledger hold every database-ledger entry, and finish stranded intents.

    Raises BackupError (``LedgerWriteError``) if the file ledger is damaged or cannot be
    written; the caller's job fails loudly rather than going on with a ledger that could
    forget. A missing ledger is started afresh from the database's entries (and audited):
    every committed erasure is in the database ledger.

    ``incremental`` (the start of a sweep) reads only what was appended since the last
    reconcile's checkpoint (privacy/ledger_file.py) and the database entries after it, and
    falls back to the full read whenever the two do not continue it. The hourly job and
    restores read everything, authenticating every line.
    """
    now = now or timezone.now()
    rebuilt = not ledger_exists()
    ensure_ledger()
    if incremental and not rebuilt:
        checkpoint = read_checkpoint()
        tail = read_ledger_tail(checkpoint) if checkpoint is not None else None
        if checkpoint is not None and tail is not None:
            result = _reconcile_tail(checkpoint, tail, now=now, grace=grace)
            if result is not None:
                return result
    return _reconcile_full(now=now, grace=grace, rebuilt=rebuilt)


def _reconcile_full(*, now: datetime, grace: timedelta, rebuilt: bool) -> Reconciled:
    lines = read_ledger_with_offsets()
    in_file: dict[UUID, dict[str, Any]] = {}
    for entry, _end in lines:
        subject = _subject(entry)
        if subject is not None:
            in_file.setdefault(subject, entry)
    appended = finished = 0
    unresolved: set[UUID] = set()
    high: dict[int, int] = {}
    for tenant in Tenant.objects.order_by("pk"):
        added, missing, recorded = 0, [], set()
        for entry_id, subject_id in _database_subjects(tenant):
            recorded.add(subject_id)
            if subject_id not in in_file:
                missing.append(entry_id)
            if len(missing) >= PAGE:
                append_ledger_lines(_missing_lines(tenant, missing))
                added, missing = added + len(missing), []
        append_ledger_lines(_missing_lines(tenant, missing))
        added += len(missing)
        mine = [s for s, entry in in_file.items() if entry["tenant"] == tenant.pk]
        done, left = _finish_stranded(tenant, mine, in_file, recorded, now=now, grace=grace)
        unresolved |= left
        high[tenant.pk] = _high(tenant, now - grace)
        if added or done or (rebuilt and recorded):
            _record(
                tenant, "privacy.ledger_reconciled", appended=added, finished=done, rebuilt=rebuilt
            )
        appended, finished = appended + added, finished + done
    _advance(Checkpoint(0, 0, "", {}), lines, unresolved, now - grace, high)
    if appended or finished:
        logger.warning(
            "erasure ledger reconciled: %d entries appended, %d intents finished",
            appended,
            finished,
        )
    return Reconciled(appended=appended, finished=finished)


def _reconcile_tail(
    checkpoint: Checkpoint,
    tail: list[tuple[dict[str, Any], int]],
    *,
    now: datetime,
    grace: timedelta,
) -> Reconciled | None:
    """The incremental reconcile; None when a database entry after the checkpoint is not
    among the lines after it (then the full read decides)."""
    in_tail: dict[UUID, dict[str, Any]] = {}
    for entry, _end in tail:
        subject = _subject(entry)
        if subject is not None:
            in_tail.setdefault(subject, entry)
    finished = 0
    unresolved: set[UUID] = set()
    high: dict[int, int] = {}
    for tenant in Tenant.objects.order_by("pk"):
        since = checkpoint.high.get(tenant.pk, 0)
        mine = [s for s, entry in in_tail.items() if entry["tenant"] == tenant.pk]
        with tenant_scope(tenant):
            newer = set(
                ErasureLedgerEntry.objects.filter(pk__gt=since).values_list("subject_id", flat=True)
            )
            if newer - set(in_tail):
                return None
            # Only the tail's subjects not among the newer entries can have an older one.
            older = [s for s in mine if s not in newer]
            recorded = newer | set(
                ErasureLedgerEntry.objects.filter(subject_id__any=older).values_list(
                    "subject_id", flat=True
                )
                if older
                else ()
            )
        done, left = _finish_stranded(tenant, mine, in_tail, recorded, now=now, grace=grace)
        unresolved |= left
        high[tenant.pk] = max(since, _high(tenant, now - grace))
        if done:
            _record(tenant, "privacy.ledger_reconciled", appended=0, finished=done, rebuilt=False)
        finished += done
    _advance(checkpoint, tail, unresolved, now - grace, high)
    if finished:
        logger.warning("erasure ledger reconciled: %d intents finished", finished)
    return Reconciled(appended=0, finished=finished)


def _finish_stranded(
    tenant: Tenant,
    subjects: list[UUID],
    lines: dict[UUID, dict[str, Any]],
    recorded: set[UUID],
    *,
    now: datetime,
    grace: timedelta,
) -> tuple[int, set[UUID]]:
    """Finish the tenant's intents older than ``grace`` whose erasure never committed.
    Returns (subjects erased now, subjects still without an entry: locked by a running
    erasure, which commits them, or to retry)."""
    candidates = [
        subject
        for subject in subjects
        if subject not in recorded
        and datetime.fromisoformat(lines[subject]["erased_at"]) <= now - grace
    ]
    if not candidates:
        return 0, set()
    with tenant_scope(tenant):
        # Only subjects whose row is here: a replay already shredded the others' keys.
        alive = set(DataSubject.objects.filter(pk__any=candidates).values_list("pk", flat=True))
    done = _finish(tenant, [(pk, lines[pk]) for pk in candidates if pk in alive], actor=RECONCILER)
    with tenant_scope(tenant):
        entered = set(
            ErasureLedgerEntry.objects.filter(subject_id__any=list(alive)).values_list(
                "subject_id", flat=True
            )
        )
    return done, alive - entered


def _high(tenant: Tenant, cut: datetime) -> int:
    """The highest id of the tenant's database-ledger entries made before ``cut``: every
    entry up to it has committed (an erasure commits within the grace period) and is in the
    file once a reconcile has run."""
    with tenant_scope(tenant):
        value = ErasureLedgerEntry.objects.filter(erased_at__lte=cut).aggregate(top=Max("id"))
    return int(value["top"] or 0)


def _advance(
    checkpoint: Checkpoint,
    lines: list[tuple[dict[str, Any], int]],
    unresolved: set[UUID],
    cut: datetime,
    high: dict[int, int],
) -> None:
    """Move the checkpoint past the lines that need no second look: up to the first one
    younger than ``cut`` or naming a subject whose erasure is still open."""
    count, size, last = checkpoint.count, checkpoint.size, checkpoint.last
    for entry, end in lines:
        if datetime.fromisoformat(entry["erased_at"]) > cut or (
            unresolved and _subject(entry) in unresolved
        ):
            break
        count, size, last = count + 1, end, str(entry["mac"])
    write_checkpoint(Checkpoint(count, size, last, high))


def reconcile_or_alert(*, incremental: bool = False) -> Reconciled:
    """``reconcile_ledger`` for scheduled jobs: a ledger that cannot be read or written is
    an audited alert in every active tenant's log (erasures stop until it is repaired),
    then the error is raised so the job fails."""
    try:
        return reconcile_ledger(incremental=incremental)
    except BackupError as error:
        for tenant in iter_tenants(active_only=True):
            _record(tenant, "privacy.ledger_damaged", error=str(error)[:300])
        raise


def _record(
    tenant: Tenant, action: str, *, actor: SystemActor = RECONCILER, **details: Any
) -> None:
    with tenant_scope(tenant):
        record_event(tenant=tenant, actor=actor, action=action, details=details)


def _finish(
    tenant: Tenant, intents: Iterable[tuple[UUID, dict[str, Any]]], *, actor: SystemActor
) -> int:
    """Erase the subjects of intents whose erasure never committed (they were due or asked
    to be erased), with the reference and reason written ahead. Keys of subjects whose row
    is gone are destroyed too. Returns subjects erased now."""
    by_reason: dict[str, dict[UUID, str]] = {}
    for subject, entry in intents:
        by_reason.setdefault(str(entry.get("reason", "")), {})[subject] = str(entry["reference"])
    done = 0
    for reason_text, references in by_reason.items():
        try:
            reason = ErasureReason(reason_text)
        except ValueError:
            reason = ErasureReason.RETENTION  # the file names a reason this code does not know
        ids = list(references)
        with tenant_scope(tenant):
            present = set(DataSubject.objects.filter(pk__any=ids).values_list("pk", flat=True))
        gone = [pk for pk in ids if pk not in present]
        if gone:
            destroy_subject_keys(tenant, gone)  # a restored key store may hold them
        with tenant_scope(tenant):
            before = set(
                ErasureLedgerEntry.objects.filter(subject_id__any=list(present)).values_list(
                    "subject_id", flat=True
                )
            )
        entries = erase_subjects(
            tenant=tenant,
            subject_ids=list(present),
            reason=reason,
            actor=actor,
            skip_locked=True,
            references=references,
            record_in_file=False,
        )
        done += len(set(entries) - before)
    return done


def ledger_copy_entries(manifest: Manifest) -> list[dict[str, Any]] | None:
    """The entries of the ledger copy kept beside this backup (None for a backup made
    before copies were kept); raises BackupError if the copy is missing or altered."""
    if not manifest.ledger_sha256:
        return None
    return read_ledger_copy(
        manifest.ledger_path,
        sha256=manifest.ledger_sha256,
        count=manifest.ledger_entries,
        last=manifest.ledger_head,
    )


def restore_ledger_problem(manifests: list[Manifest], copies: list[list[dict]]) -> str | None:
    """Why the live ledger cannot be trusted to keep every erasure these backups predate,
    or None. The ledger only grows: it must hold at least as many entries as when each
    backup was taken, and every subject of each backup's ledger copy."""
    try:
        entries = read_ledger_file()
    except BackupError as error:
        return str(error)
    subjects = {str(entry["subject"]) for entry in entries}
    for manifest, copy in zip(manifests, copies, strict=True):
        if len(entries) < manifest.ledger_entries:
            return (
                f"the erasure ledger holds {len(entries)} entries but had "
                f"{manifest.ledger_entries} when {manifest.id} was taken: it was truncated"
            )
        lacking = {str(entry["subject"]) for entry in copy} - subjects
        if lacking:
            return (
                f"the erasure ledger lacks {len(lacking)} erasure(s) that the copy kept with "
                f"{manifest.id} records: it is not the ledger that backup was taken with"
            )
    return None


def record_restore(
    restored: list[Manifest], *, replayed: int, problem: str | None, reason: str
) -> None:
    """After a restore (the audit log itself was restored): every tenant's log says what was
    restored, and whether erasure loss was accepted and why."""
    for tenant in Tenant.objects.order_by("pk"):
        _record(
            tenant,
            "privacy.backup_restored",
            actor=RESTORER,
            backups=[m.name for m in restored],
            replayed=replayed,
        )
        if problem:
            _record(
                tenant,
                "privacy.erasure_loss_accepted",
                actor=RESTORER,
                reason=reason,
                problem=problem[:300],
            )


def replay_erasures(extra: Iterable[dict[str, Any]] = ()) -> int:
    """After a restore: erase again every subject the file ledger records (and those of the
    ledger copies in ``extra``), deleting any ciphertext and key the restored databases
    brought back. Returns subjects whose erasure the restore had undone. Raises
    BackupError if the file ledger is missing or damaged."""
    return replay_entries([*read_ledger_file(), *extra])


def replay_entries(entries: Iterable[dict[str, Any]]) -> int:
    """Replay these ledger entries (see ``replay_erasures``)."""
    by_tenant: dict[int, dict[UUID, dict[str, Any]]] = {}
    for entry in entries:
        subject = _subject(entry)
        if subject is not None:
            by_tenant.setdefault(int(entry["tenant"]), {}).setdefault(subject, entry)
    replayed = 0
    for tenant_id, subjects in sorted(by_tenant.items()):
        tenant = Tenant.objects.filter(pk=tenant_id).first()
        if tenant is None:
            continue
        ids = list(subjects)
        # Keys first, whatever the rows say: a restored key store may hold any of them.
        destroy_subject_keys(tenant, ids)
        with tenant_scope(tenant):
            undone = set(
                DataSubject.objects.filter(pk__any=ids, erased_at__isnull=True).values_list(
                    "pk", flat=True
                )
            ) | (
                set(DataSubject.objects.filter(pk__any=ids).values_list("pk", flat=True))
                - set(
                    ErasureLedgerEntry.objects.filter(subject_id__any=ids).values_list(
                        "subject_id", flat=True
                    )
                )
            )
        if not undone:
            continue
        _finish(tenant, [(pk, subjects[pk]) for pk in undone], actor=REPLAY)
        with tenant_scope(tenant):
            for pk in sorted(undone):
                record_event(
                    tenant=tenant,
                    actor=REPLAY,
                    action="privacy.erasure_replayed",
                    object_type="privacy.datasubject",
                    object_id=str(pk),
                    details={"reference": str(subjects[pk]["reference"])},
                )
        replayed += len(undone)
    return replayed
