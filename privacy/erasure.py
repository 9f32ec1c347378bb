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
from functools import partial
from uuid import UUID

from django.db import transaction
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
from privacy.registry import sealed_models
from privacy.signals import subjects_erased
from tenants.actors import Actor, actor_label
from tenants.bulk import append_rows
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
) -> dict[UUID, ErasureLedgerEntry]:
    """Erase subjects (idempotent), set-based: a fixed number of statements per batch.

    Returns the ledger entry of each subject erased now or before; with ``skip_locked``,
    subjects another run holds right now are left out (that run erases them). Unknown ids
    are left out too. ``references`` (per subject) or ``reference`` (for all) give the
    references of new entries, else new ones are drawn. ``record_in_file=False`` is for
    callers that act on the file ledger itself (replay, reconcile).

    Raises ``LedgerWriteError`` — nothing erased, the failure audited — when the intent
    cannot be written to the file ledger.
    """
    ids = list(dict.fromkeys(subject_ids))
    if not ids:
        return {}
    try:
        return _erase_locked(
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


def _erase_locked(
    *,
    tenant: Tenant,
    ids: list[UUID],
    reason: ErasureReason,
    actor: Actor,
    skip_locked: bool,
    reference: str | None,
    references: Mapping[UUID, str],
    record_in_file: bool,
) -> dict[UUID, ErasureLedgerEntry]:
    with tenant_scope(tenant), transaction.atomic():
        subjects = {
            s.pk: s
            for s in DataSubject.objects.select_for_update(skip_locked=skip_locked, of=("self",))
            .filter(pk__any=ids)
            .only("id", "tenant_id", "erased_at")
        }
        entries = {
            e.subject_id: e
            for e in ErasureLedgerEntry.objects.filter(subject_id__any=list(subjects))
        }
        todo = [pk for pk, s in subjects.items() if pk not in entries or s.erased_at is None]
        if not todo:
            return entries
        label, now = actor_label(actor), timezone.now()
        chosen = {
            pk: (
                entries[pk].reference
                if pk in entries
                else references.get(pk) or reference or _reference()
            )
            for pk in todo
        }
        if record_in_file:
            # Written ahead: durably on disk before any key is destroyed (raises if not).
            append_ledger_lines(
                [LedgerLine(tenant.pk, str(pk), chosen[pk], str(reason), now) for pk in todo]
            )
        # Keys before ciphertext: from here on the data is unreadable even if we crash.
        destroy_subject_keys(tenant, todo)
        records = _clear_records(todo)
        # Pending online requests for these customers hold a keyed hash of the phone: gone.
        ErasureChallenge.objects.filter(tenant=tenant, subject_id__any=todo).update(
            phone_hash="", otp_hash="", subject_id=None
        )
        new = [
            ErasureLedgerEntry(
                tenant=tenant,
                subject_id=pk,
                reference=chosen[pk],
                reason=reason,
                actor=label,
                records=records[pk],
                erased_at=now,
            )
            for pk in todo
            if pk not in entries
        ]
        # Entries of a large batch come back without ids (tenants.bulk.append_rows).
        append_rows(
            ErasureLedgerEntry,
            new,
            ("tenant", "subject_id", "reference", "reason", "actor", "records", "erased_at"),
        )
        entries.update((entry.subject_id, entry) for entry in new)
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
                        "reference": entries[pk].reference,
                        "records": records[pk],
                    },
                )
                for pk in todo
            ],
        )
        # Later layers hear of it once it is committed (privacy.signals).
        transaction.on_commit(partial(_announce, tenant, list(todo), reason))
    return entries


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
