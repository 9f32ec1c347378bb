"""Erasure: by retention, by a customer's verified request, by an administrator.

Order of work for one subject (docs/conventions.md §4, docs/privacy.md): with the subject's row locked,
write the intent to erase it to the file ledger beside the backups (flushed and fsynced:
privacy/ledger_file.py), destroy the subject key in the key store (committed on its own),
then, in the main-database transaction, clear every sealed field and display mask of the
subject's records, mark the subject erased and append the database ledger's entry. A crash
after the intent leaves a subject that a restore replays and the reconcile job finishes
(privacy/ledger.py); a crash between the key and the commit leaves ciphertext without a key —
unreadable — and a rerun finishes the job; the ledger's unique (tenant, subject) makes each
erasure appear exactly once in the database. A ledger that cannot be written stops the
erasure before any key is destroyed, and the failure is audited.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Literal, overload
from uuid import UUID

from django.db import connections, router, transaction
from django.db.models import Count
from django.utils import timezone

from audits.services import Event, record_event, record_events
from privacy.keys import destroy_subject_keys
from privacy.ledger_file import LedgerLine, LedgerWriteError, append_ledger_lines
from privacy.models import (
    DataSubject,
    ErasureChallenge,
    ErasureLedgerEntry,
    ErasureReason,
)
from privacy.registry import SealedModel, sealed_models
from privacy.signals import subjects_erased
from tenants.actors import Actor, actor_label
from tenants.bulk import append_rows
from tenants.lookups import uuid_array
from tenants.models import Tenant
from tenants.scoping import tenant_scope

logger = logging.getLogger(__name__)
SWEEP_BATCH = 1000
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"


def _reference() -> str:
    # 30**12 values: no collision in practice however many erasures a tenant records.
    number, digits = secrets.randbelow(len(REFERENCE_ALPHABET) ** 12), []
    for _position in range(12):
        number, digit = divmod(number, len(REFERENCE_ALPHABET))
        digits.append(REFERENCE_ALPHABET[digit])
    return "ER-" + "".join(digits)


def _clear_records(subject_ids: list[UUID]) -> dict[UUID, int]:
    """Blank every sealed field and mask of the subjects' rows, in every registered model,
    a statement or two per model whatever the number of subjects. Returns rows per subject."""
    cleared: dict[UUID, int] = dict.fromkeys(subject_ids, 0)
    now = timezone.now()
    for spec in sealed_models():
        rows = spec.model._default_manager.filter(**{f"{spec.subject_lookup}__any": subject_ids})
        values: dict[str, object] = {f"{field}_ct": b"" for field in spec.fields}
        values.update(dict.fromkeys(spec.masks, ""))
        if spec.model is DataSubject:
            values.update(phone_bidx=0, erased_at=now)
            for subject_id in subject_ids:  # the subject rows themselves, locked by the caller
                cleared[subject_id] += 1
        else:
            for subject_id, count in (
                rows.order_by().values_list(spec.subject_lookup).annotate(n=Count("pk"))
            ):
                cleared[subject_id] += count
        rows.update(**values)
    return cleared


def _ledger_failed(tenant: Tenant, actor: Actor, subjects: int, error: LedgerWriteError) -> None:
    """The refusal is recorded in the tenant's audit log, outside the erasure's rolled-back
    transaction (the message names the folder and the cause, never a customer)."""
    record_event(
        tenant=tenant,
        actor=actor,
        action="privacy.ledger_write_failed",
        details={"subjects": subjects, "error": str(error)[:300]},
    )


@overload
def erase_subjects(
    *,
    tenant: Tenant,
    subject_ids: Sequence[UUID],
    reason: ErasureReason,
    actor: Actor,
    skip_locked: bool = ...,
    reference: str | None = ...,
    references: Mapping[UUID, str] | None = ...,
    record_in_file: bool = ...,
    materialise: Literal[True] = ...,
) -> dict[UUID, ErasureLedgerEntry]: ...


@overload
def erase_subjects(
    *,
    tenant: Tenant,
    subject_ids: Sequence[UUID],
    reason: ErasureReason,
    actor: Actor,
    skip_locked: bool = ...,
    reference: str | None = ...,
    references: Mapping[UUID, str] | None = ...,
    record_in_file: bool = ...,
    materialise: Literal[False],
) -> dict[UUID, str | None]: ...


def erase_subjects(
    *,
    tenant: Tenant,
    subject_ids: Sequence[UUID],
    reason: ErasureReason,
    actor: Actor,
    skip_locked: bool = False,
    reference: str | None = None,
    references: Mapping[UUID, str] | None = None,
    record_in_file: bool = True,
    materialise: bool = True,
) -> dict[UUID, ErasureLedgerEntry] | dict[UUID, str | None]:
    """Erase subjects (idempotent), set-based: a fixed number of statements per batch
    whatever its size (``_erase_batch``).

    Returns the ledger entry of each subject erased now or before; with ``skip_locked``,
    subjects another run holds right now are left out (that run erases them). Unknown ids
    are left out too. ``references`` (per subject) or ``reference`` (for all) give the
    references of new entries, else new ones are drawn. ``record_in_file=False`` is for
    callers that act on the file ledger itself (replay, reconcile). ``materialise=False``
    (the sweep) returns each subject's reference instead of a model instance per entry.

    Raises ``LedgerWriteError`` — nothing erased, the failure audited — when the intent
    cannot be written to the file ledger.
    """
    ids = list(dict.fromkeys(subject_ids))
    if not ids:
        return {}
    try:
        batch = _erase_batch(
            tenant=tenant,
            ids=ids,
            reason=reason,
            actor=actor,
            skip_locked=skip_locked,
            reference=reference,
            references=references or {},
            record_in_file=record_in_file,
        )
    except LedgerWriteError as error:
        _ledger_failed(tenant, actor, len(ids), error)
        raise
    if not materialise:
        return {**batch.locked, **batch.references}
    return _entries(tenant, batch, reason, actor_label(actor))


@dataclass(frozen=True)
class _Batch:
    """What one batch did: the subjects it locked (each with the reference of its ledger
    entry, ``None`` if it has none yet), those it erased now, rows cleared per subject, and
    the ids of the ledger entries it added (``None`` for an entry added by COPY)."""

    locked: dict[UUID, str | None]
    todo: list[UUID]
    references: dict[UUID, str]
    records: dict[UUID, int]
    entry_ids: dict[UUID, int | None]
    now: datetime


def _entries(
    tenant: Tenant, batch: _Batch, reason: ErasureReason, label: str
) -> dict[UUID, ErasureLedgerEntry]:
    """The ledger entries of a batch's subjects as model instances (callers that keep one:
    a staff request links its entry)."""
    older = [pk for pk, ref in batch.locked.items() if ref is not None]
    entries: dict[UUID, ErasureLedgerEntry] = {}
    if older:
        with tenant_scope(tenant):
            entries = {
                e.subject_id: e for e in ErasureLedgerEntry.objects.filter(subject_id__any=older)
            }
    for pk, entry_id in batch.entry_ids.items():
        entry = ErasureLedgerEntry(
            id=entry_id,
            tenant=tenant,
            subject_id=pk,
            reference=batch.references[pk],
            reason=reason,
            actor=label,
            records=batch.records[pk],
            erased_at=batch.now,
        )
        if entry_id is not None:
            entry._state.adding, entry._state.db = False, router.db_for_write(ErasureLedgerEntry)
        entries[pk] = entry
    return entries


def _erase_batch(
    *,
    tenant: Tenant,
    ids: list[UUID],
    reason: ErasureReason,
    actor: Actor,
    skip_locked: bool,
    reference: str | None = None,
    references: Mapping[UUID, str] | None = None,
    record_in_file: bool = True,
) -> _Batch:
    """One batch, set-based: on PostgreSQL a fixed number of round trips whatever its size
    (lock and read the ledger: 1; the file ledger: one write and fsync; the keys: one
    statement on the key store; every sealed model, the challenges and the ledger entries:
    1; the audit events: ``record_events``; commit)."""
    references = references or {}
    postgres = connections[router.db_for_write(DataSubject)].vendor == "postgresql"
    with tenant_scope(tenant), transaction.atomic():
        locked = (_lock_sql if postgres else _lock_orm)(tenant, ids, skip_locked)
        todo = [pk for pk, (erased, ref) in locked.items() if ref is None or not erased]
        known = {pk: ref for pk, (_erased, ref) in locked.items()}
        if not todo:
            return _Batch(known, [], {}, {}, {}, timezone.now())
        label, now = actor_label(actor), timezone.now()
        chosen = {pk: known[pk] or references.get(pk) or reference or _reference() for pk in todo}
        if record_in_file:
            # Written ahead: durably on disk before any key is destroyed (raises if not).
            append_ledger_lines(
                [LedgerLine(tenant.pk, str(pk), chosen[pk], str(reason), now) for pk in todo]
            )
        # Keys before ciphertext: from here on the data is unreadable even if we crash.
        destroy_subject_keys(tenant, todo)
        new = [pk for pk in todo if known[pk] is None]
        records, entry_ids = (_clear_and_record_sql if postgres else _clear_and_record_orm)(
            tenant, todo, new, chosen, str(reason), label, now
        )
        record_events(
            tenant=tenant,
            actor=actor,
            events=[
                Event(
                    action="privacy.subject_erased",
                    object_type="privacy.datasubject",
                    object_id=str(pk),
                    details={
                        "reason": reason.value,
                        "reference": chosen[pk],
                        "records": records[pk],
                    },
                )
                for pk in todo
            ],
            instances=False,
        )
        # Later layers hear of it once it is committed (privacy.signals).
        transaction.on_commit(partial(_announce, tenant, list(todo), reason))
    return _Batch(known, todo, chosen, records, entry_ids, now)


def _lock_orm(
    tenant: Tenant, ids: list[UUID], skip_locked: bool
) -> dict[UUID, tuple[bool, str | None]]:
    subjects = {
        pk: erased_at is not None
        for pk, erased_at in DataSubject.objects.select_for_update(
            skip_locked=skip_locked, of=("self",)
        )
        .filter(pk__any=ids)
        .values_list("id", "erased_at")
    }
    refs = dict(
        ErasureLedgerEntry.objects.filter(subject_id__any=list(subjects)).values_list(
            "subject_id", "reference"
        )
    )
    return {pk: (erased, refs.get(pk)) for pk, erased in subjects.items()}


def _lock_sql(
    tenant: Tenant, ids: list[UUID], skip_locked: bool
) -> dict[UUID, tuple[bool, str | None]]:
    """Lock the subjects' rows and read their ledger entries' references: one round trip."""
    connection = connections[router.db_for_write(DataSubject)]
    quote = connection.ops.quote_name
    subjects = quote(DataSubject._meta.db_table)
    ledger = quote(ErasureLedgerEntry._meta.db_table)
    skip = " SKIP LOCKED" if skip_locked else ""
    # Table names from the models' metadata; every value is a parameter.
    # Index lookups whatever the tables' statistics say: ``= ANY(ARRAY(...))`` for the
    # subjects, and each one's entry by the ledger's unique (tenant, subject). (A join
    # planned from stale statistics hashed the tenant's whole ledger in every batch.)
    statement = (
        f"SELECT s.id, s.erased_at IS NOT NULL, (SELECT e.reference FROM {ledger} e "  # noqa: S608
        f"WHERE e.tenant_id = s.tenant_id AND e.subject_id = s.id) FROM {subjects} s "
        f"WHERE s.tenant_id = %s AND s.id = ANY(ARRAY(SELECT unnest(%s::uuid[]))) "
        f"FOR UPDATE OF s{skip}"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [tenant.pk, uuid_array(ids)])
        return {row[0]: (bool(row[1]), row[2]) for row in cursor.fetchall()}


def _clear_and_record_orm(
    tenant: Tenant,
    todo: list[UUID],
    new: list[UUID],
    chosen: Mapping[UUID, str],
    reason: str,
    label: str,
    now: datetime,
) -> tuple[dict[UUID, int], dict[UUID, int | None]]:
    records = _clear_records(todo)
    # Pending online requests for these customers hold a keyed hash of the phone: gone.
    ErasureChallenge.objects.filter(tenant=tenant, subject_id__any=todo).update(
        phone_hash="", otp_hash="", subject_id=None
    )
    rows = [
        ErasureLedgerEntry(
            tenant=tenant,
            subject_id=pk,
            reference=chosen[pk],
            reason=reason,
            actor=label,
            records=records[pk],
            erased_at=now,
        )
        for pk in new
    ]
    # Entries of a large batch come back without ids (tenants.bulk.append_rows).
    append_rows(
        ErasureLedgerEntry,
        rows,
        ("tenant", "subject_id", "reference", "reason", "actor", "records", "erased_at"),
    )
    return records, {row.subject_id: row.pk for row in rows}


def _column(model: Any, name: str) -> str:
    field: Any = model._meta.get_field(name)
    return str(field.column)


def _rows_of(
    spec: SealedModel, quote: Any, index: int, hops: dict[tuple[Any, str], str], ctes: list[str]
) -> tuple[str, int]:
    """SQL selecting (row_id, subject_id) of the rows of ``spec``'s model that belong to
    the subjects in the CTE ``ids``, every table filtered by the tenant (its index leads
    with it); and the number of tenant parameters it takes. A lookup through a foreign key
    (``order__subject_id``) first selects the related rows of the subjects (a CTE shared by
    every model that goes through them), then this model's rows by the key's index.
    ``= ANY(ARRAY(...))`` makes each step an index scan, whatever the tenant's history."""
    model = spec.model
    path = spec.subject_lookup.split("__")
    table, pk = quote(model._meta.db_table), quote(str(model._meta.pk.column))
    if len(path) == 1:
        column = quote(_column(model, path[0]))
        return (
            f"SELECT t.{pk} AS row_id, t.{column} AS subject_id FROM {table} t "  # noqa: S608
            f"WHERE t.tenant_id = %s AND t.{column} = ANY(ARRAY(SELECT subject_id FROM ids))",
            1,
        )
    if len(path) != 2:
        raise NotImplementedError(f"erasure follows one foreign key, not {spec.subject_lookup}")
    fk: Any = model._meta.get_field(path[0])
    related: Any = fk.related_model
    tenants = 1
    key = (related, path[1])
    if key not in hops:
        hops[key] = f"h{len(hops)}"
        column = quote(_column(related, path[1]))
        ctes.append(
            f"{hops[key]} AS MATERIALIZED (SELECT h.{quote(related._meta.pk.column)} AS id, "  # noqa: S608
            f"h.{column} AS subject_id FROM {quote(related._meta.db_table)} h "
            f"WHERE h.tenant_id = %s AND h.{column} = ANY(ARRAY(SELECT subject_id FROM ids)))"
        )
        tenants += 1
    hop, fk_column = hops[key], quote(str(fk.column))
    return (
        f"SELECT t.{pk} AS row_id, {hop}.subject_id FROM {table} t "  # noqa: S608
        f"JOIN {hop} ON {hop}.id = t.{fk_column} "
        f"WHERE t.tenant_id = %s AND t.{fk_column} = ANY(ARRAY(SELECT id FROM {hop}))",
        tenants,
    )


def _clear_and_record_sql(
    tenant: Tenant,
    todo: list[UUID],
    new: list[UUID],
    chosen: Mapping[UUID, str],
    reason: str,
    label: str,
    now: datetime,
) -> tuple[dict[UUID, int], dict[UUID, int | None]]:
    """One statement: blank every sealed field and mask of the subjects' rows in every
    registered model (rows already blank are not rewritten), mark the subjects erased,
    clear their pending online requests and append their ledger entries; returns rows per
    subject (every row of the subject in a registered model, as ``_clear_records``) and
    the new entries' ids."""
    connection = connections[router.db_for_write(DataSubject)]
    quote = connection.ops.quote_name
    ctes = ["ids AS MATERIALIZED (SELECT DISTINCT unnest(%s::uuid[]) AS subject_id)"]
    params: list[Any] = [uuid_array(todo)]
    selected = []
    hops: dict[tuple[Any, str], str] = {}
    for index, spec in enumerate(sealed_models()):
        model = spec.model
        rows_sql, tenants = _rows_of(spec, quote, index, hops, ctes)
        ctes.append(f"r{index} AS MATERIALIZED ({rows_sql})")
        params += [tenant.pk] * tenants
        selected.append(f"SELECT subject_id FROM r{index}")  # noqa: S608
        columns = [quote(_column(model, f"{f}_ct")) for f in spec.fields]
        masks = [quote(_column(model, m)) for m in spec.masks]
        sets = [f"{c} = ''::bytea" for c in columns] + [f"{m} = ''" for m in masks]
        holding = [f"w.{c} <> ''::bytea" for c in columns] + [f"w.{m} <> ''" for m in masks]
        extra: list[Any] = []
        if model is DataSubject:
            sets += ["phone_bidx = 0", "erased_at = %s"]
            extra.append(now)
            holding = []  # every subject row is marked, blank or not
        if not sets:
            continue
        pk = quote(model._meta.pk.column)
        where = f" AND ({' OR '.join(holding)})" if holding else ""
        ctes.append(
            f"w{index} AS (UPDATE {quote(model._meta.db_table)} w "  # noqa: S608
            f"SET {', '.join(sets)} WHERE w.tenant_id = %s "
            f"AND w.{pk} = ANY(ARRAY(SELECT row_id FROM r{index})){where})"
        )
        params += [*extra, tenant.pk]
    challenges = quote(ErasureChallenge._meta.db_table)
    # Pending online requests for these customers hold a keyed hash of the phone: gone.
    ctes.append(
        f"challenges AS (UPDATE {challenges} SET phone_hash = '', otp_hash = '', "  # noqa: S608
        "subject_id = NULL WHERE tenant_id = %s "
        "AND subject_id = ANY(ARRAY(SELECT subject_id FROM ids)))"
    )
    params.append(tenant.pk)
    ctes.append(
        f"counts AS (SELECT subject_id, count(*) AS n FROM ({' UNION ALL '.join(selected)}) u "  # noqa: S608
        "GROUP BY subject_id)"
    )
    ledger = quote(ErasureLedgerEntry._meta.db_table)
    ctes.append(
        f"ledger AS (INSERT INTO {ledger} "  # noqa: S608
        "(tenant_id, subject_id, reference, reason, actor, records, erased_at) "
        "SELECT %s, f.subject_id, f.reference, %s, %s, coalesce(c.n, 0), %s "
        "FROM unnest(%s::uuid[], %s::text[]) AS f(subject_id, reference) "
        "LEFT JOIN counts c USING (subject_id) RETURNING id, subject_id)"
    )
    params += [tenant.pk, reason, label, now, uuid_array(new), [chosen[pk] for pk in new]]
    statement = (
        f"WITH {', '.join(ctes)} SELECT i.subject_id, coalesce(c.n, 0), l.id "  # noqa: S608
        "FROM ids i LEFT JOIN counts c USING (subject_id) LEFT JOIN ledger l USING (subject_id)"
    )
    records: dict[UUID, int] = {}
    entry_ids: dict[UUID, int | None] = {}
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        for subject_id, count, entry_id in cursor.fetchall():
            records[subject_id] = int(count)
            if entry_id is not None:
                entry_ids[subject_id] = int(entry_id)
    return records, entry_ids


def _announce(tenant: Tenant, subject_ids: list[UUID], reason: ErasureReason) -> None:
    """Send ``subjects_erased``. A failing receiver is logged by its exception's type only
    (its message could quote what it was handling), not raised: the erasure is committed
    and its caller must not see an error; the station selectors hide erased customers'
    orders whatever happens here."""
    try:
        subjects_erased.send(
            sender=DataSubject, tenant=tenant, subject_ids=subject_ids, reason=str(reason)
        )
    except Exception as error:  # noqa: BLE001 - logged by type, never re-raised after commit
        logger.error(
            "a subjects_erased receiver failed: %s (tenant %s, %d subjects)",
            type(error).__name__,
            tenant.pk,
            len(subject_ids),
        )


def erase_subject(
    *,
    tenant: Tenant,
    subject_id: UUID,
    reason: ErasureReason,
    actor: Actor,
    skip_locked: bool = False,
    reference: str | None = None,
    record_in_file: bool = True,
) -> ErasureLedgerEntry | None:
    """Erase one subject (idempotent). Returns its ledger entry; None when ``skip_locked``
    and another run holds the subject right now; ``DataSubject.DoesNotExist`` if unknown."""
    entries = erase_subjects(
        tenant=tenant,
        subject_ids=[subject_id],
        reason=reason,
        actor=actor,
        skip_locked=skip_locked,
        reference=reference,
        record_in_file=record_in_file,
    )
    if subject_id in entries:
        return entries[subject_id]
    with tenant_scope(tenant):
        if DataSubject.objects.filter(pk=subject_id).exists():
            return None  # locked by a concurrent run, which erases it
    raise DataSubject.DoesNotExist()
