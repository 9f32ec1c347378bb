"""Erasure: by retention, by a customer's verified request, by an administrator.

Order of work for one subject (GUIDE, docs/privacy.md): destroy the subject key in the key
store (committed on its own), then, in one main-database transaction, clear every sealed
field and display mask of the subject's records, mark the subject erased and append the
ledger entry. A crash between the two leaves ciphertext without a key — unreadable — and a
rerun finishes the job; the ledger's unique (tenant, subject) makes each erasure appear
exactly once.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.services import Event, record_event, record_events
from privacy.backups import LedgerLine, append_ledger_lines, iter_ledger_subjects
from privacy.keys import destroy_subject_key, destroy_subject_keys
from privacy.models import (
    DataSubject,
    ErasureChallenge,
    ErasureLedgerEntry,
    ErasureReason,
    ErasureRequest,
    RequestChannel,
    RequestStatus,
    RetentionPolicy,
)
from privacy.registry import retention_sources, sealed_models
from tenants.actors import Actor, SystemActor, actor_label
from tenants.bulk import append_rows
from tenants.models import Role, Tenant, User
from tenants.roles import has_role
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


def erase_subjects(
    *,
    tenant: Tenant,
    subject_ids: Sequence[UUID],
    reason: ErasureReason,
    actor: Actor,
    skip_locked: bool = False,
    reference: str | None = None,
    record_in_file: bool = True,
) -> dict[UUID, ErasureLedgerEntry]:
    """Erase subjects (idempotent), set-based: a fixed number of statements per batch.

    Returns the ledger entry of each subject erased now or before; with ``skip_locked``,
    subjects another run holds right now are left out (that run erases them). Unknown ids
    are left out too.
    """
    ids = list(dict.fromkeys(subject_ids))
    if not ids:
        return {}
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
        # Keys before ciphertext: from here on the data is unreadable even if we crash.
        destroy_subject_keys(tenant, todo)
        records = _clear_records(todo)
        # Pending online requests for these customers hold a keyed hash of the phone: gone.
        ErasureChallenge.objects.filter(tenant=tenant, subject_id__any=todo).update(
            phone_hash="", otp_hash="", subject_id=None
        )
        label, now = actor_label(actor), timezone.now()
        new = [
            ErasureLedgerEntry(
                tenant=tenant,
                subject_id=pk,
                reference=reference or _reference(),
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
        if new and record_in_file:
            # The copy beside the backups, written once the erasures are committed.
            lines = [
                LedgerLine(tenant.pk, str(e.subject_id), e.reference, str(e.reason), e.erased_at)
                for e in new
            ]
            transaction.on_commit(lambda: append_ledger_lines(lines))
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
    return entries


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


# --- retention -------------------------------------------------------------------------


def retention_days(tenant: Tenant) -> int:
    with tenant_scope(tenant):
        policy = RetentionPolicy.objects.first()
    return policy.days if policy is not None else 7


def set_retention_days(*, tenant: Tenant, days: int, actor: Actor) -> RetentionPolicy:
    if isinstance(actor, User) and (
        actor.tenant_id != tenant.pk or not has_role(actor, Role.TENANT_ADMIN, Role.PRIVACY_OFFICER)
    ):
        raise PermissionDenied(_("Only a tenant administrator or privacy officer sets retention."))
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 365:
        raise ValidationError({"days": _("Between 0 and 365 days.")})
    with transaction.atomic(), tenant_scope(tenant):
        policy, _created = RetentionPolicy.objects.get_or_create(
            tenant=tenant, defaults={"days": days, "updated_by": actor_label(actor)}
        )
        policy.days, policy.updated_by = days, actor_label(actor)
        policy.save()
        record_event(
            tenant=tenant,
            actor=actor,
            action="privacy.retention_set",
            target=policy,
            details={"days": days},
        )
    return policy


def retention_cutoff(tenant: Tenant, now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(days=retention_days(tenant))


def sweep_tenant(
    tenant: Tenant, *, actor: Actor | None = None, batch_size: int = SWEEP_BATCH
) -> int:
    """Erase every due subject of ``tenant`` in batches; safe to rerun and to run twice at
    once (rows locked by the other run are skipped, and it erases them).

    Each source is walked once in id order (keyset pages), so a batch never re-reads the
    subjects erased by the batches before it.
    """
    actor = actor or SystemActor("retention-sweep")
    cutoff = retention_cutoff(tenant)
    seen: set[UUID] = set()
    for source in retention_sources():
        after: UUID | None = None
        while True:
            with tenant_scope(tenant):
                page = list(source(tenant, cutoff, after).order_by("pk")[:batch_size])
            if not page:
                break
            after = page[-1]
            batch = [s for s in page if s not in seen]
            seen.update(
                erase_subjects(
                    tenant=tenant,
                    subject_ids=batch,
                    reason=ErasureReason.RETENTION,
                    actor=actor,
                    skip_locked=True,
                )
            )
    return len(seen)


# --- requests ------------------------------------------------------------------------


def request_deadline() -> timedelta:
    return timedelta(days=int(getattr(settings, "BAOMI_ERASURE_DEADLINE_DAYS", 15)))


EVIDENCE_LIMIT = 200


def record_staff_request(
    *, tenant: Tenant, subject_id: UUID, channel: RequestChannel | str, evidence: str, actor: Actor
) -> ErasureRequest:
    """A privacy officer records a request verified in person or by phone, with the
    evidence noted, and the erasure runs at once."""
    if (
        not isinstance(actor, User)
        or actor.tenant_id != tenant.pk
        or not has_role(actor, Role.PRIVACY_OFFICER)
    ):
        raise PermissionDenied(_("Only the privacy officer records erasure requests."))
    if channel not in (RequestChannel.IN_PERSON, RequestChannel.PHONE):
        raise ValidationError({"channel": _("Choose how the customer was verified.")})
    note = (evidence or "").strip()
    if not note or len(note) > EVIDENCE_LIMIT or "\x00" in note:
        raise ValidationError(
            {"evidence": _("Describe the verification in 1 to 200 characters (no personal data).")}
        )
    now = timezone.now()
    with tenant_scope(tenant):
        if not DataSubject.objects.filter(pk=subject_id).exists():
            raise ValidationError({"subject": _("No such customer.")})
        request = ErasureRequest(
            tenant=tenant,
            channel=channel,
            subject_id=subject_id,
            evidence=note,
            due_at=now + request_deadline(),
            handled_by=actor_label(actor),
        )
        request.save(force_insert=True)
    entry = erase_subject(
        tenant=tenant, subject_id=subject_id, reason=ErasureReason.STAFF_REQUEST, actor=actor
    )
    with tenant_scope(tenant):
        request.status, request.completed_at, request.ledger_entry = (
            RequestStatus.COMPLETED,
            timezone.now(),
            entry,
        )
        request.save(update_fields=["status", "completed_at", "ledger_entry"])
        record_event(
            tenant=tenant,
            actor=actor,
            action="privacy.erasure_request_completed",
            target=request,
            details={"channel": channel, "reference": entry.reference if entry else ""},
        )
    return request


REPLAY = SystemActor("restore-replay")


def replay_erasures() -> int:
    """After a restore: erase again every subject the file ledger records, deleting any
    ciphertext and key the restored databases brought back. Returns subjects replayed."""
    replayed = 0
    for tenant_id, subject_id, reference, reason in iter_ledger_subjects():
        tenant = Tenant.objects.filter(pk=tenant_id).first()
        if tenant is None:
            continue
        with tenant_scope(tenant):
            subject = DataSubject.objects.filter(pk=subject_id).first()
            recorded = ErasureLedgerEntry.objects.filter(subject_id=subject_id).exists()
        if subject is None:
            destroy_subject_key(tenant, UUID(subject_id))  # a restored key store may hold it
            continue
        if subject.erased_at is not None and recorded:
            destroy_subject_key(tenant, UUID(subject_id))
            continue
        erase_subject(
            tenant=tenant,
            subject_id=UUID(subject_id),
            reason=ErasureReason(reason),
            actor=REPLAY,
            reference=reference,
            record_in_file=False,
        )
        with tenant_scope(tenant):
            record_event(
                tenant=tenant,
                actor=REPLAY,
                action="privacy.erasure_replayed",
                object_type="privacy.datasubject",
                object_id=subject_id,
                details={"reference": reference},
            )
        replayed += 1
    return replayed
