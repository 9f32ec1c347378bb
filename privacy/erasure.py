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
from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.services import record_event
from privacy.backups import append_ledger_file, iter_ledger_subjects
from privacy.keys import destroy_subject_key
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
from tenants.models import Role, Tenant, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope

logger = logging.getLogger(__name__)
SWEEP_BATCH = 500
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"


def _reference() -> str:
    return "ER-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))


def _clear_records(subject_id: UUID) -> int:
    """Blank every sealed field and mask of the subject's rows, in every registered model."""
    cleared = 0
    for spec in sealed_models():
        values: dict[str, object] = {f"{field}_ct": b"" for field in spec.fields}
        values.update(dict.fromkeys(spec.masks, ""))
        if spec.model is DataSubject:
            values.update(phone_bidx=0, erased_at=timezone.now())
        cleared += spec.model._default_manager.filter(**{spec.subject_lookup: subject_id}).update(
            **values
        )
    return cleared


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
    and another run holds the subject right now."""
    with tenant_scope(tenant), transaction.atomic():
        subject = (
            DataSubject.objects.select_for_update(skip_locked=skip_locked, of=("self",))
            .filter(pk=subject_id)
            .first()
        )
        if subject is None:
            if DataSubject.objects.filter(pk=subject_id).exists():
                return None  # locked by a concurrent run, which erases it
            raise DataSubject.DoesNotExist()
        done = ErasureLedgerEntry.objects.filter(subject_id=subject_id).first()
        if done is not None and subject.erased_at is not None:
            return done
        # Key before ciphertext: from here on the data is unreadable even if we crash.
        destroy_subject_key(tenant, subject_id)
        records = _clear_records(subject_id)
        # Pending online requests for this customer hold a keyed hash of the phone: gone too.
        ErasureChallenge.objects.filter(tenant=tenant, subject_id=subject_id).update(
            phone_hash="", otp_hash="", subject_id=None
        )
        entry = done or ErasureLedgerEntry(
            tenant=tenant,
            subject_id=subject_id,
            reference=reference or _reference(),
            reason=reason,
            actor=actor_label(actor),
            records=records,
        )
        if done is None:
            entry.save(force_insert=True)
            if record_in_file:
                # The copy beside the backups, written once the erasure is committed.
                transaction.on_commit(
                    lambda: append_ledger_file(
                        tenant_id=tenant.pk,
                        subject_id=str(subject_id),
                        reference=entry.reference,
                        reason=str(entry.reason),
                        erased_at=entry.erased_at,
                    )
                )
        record_event(
            tenant=tenant,
            actor=actor,
            action="privacy.subject_erased",
            object_type="privacy.datasubject",
            object_id=str(subject_id),
            details={"reason": reason.value, "reference": entry.reference, "records": records},
        )
    return entry


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


def due_subject_ids(tenant: Tenant, *, now: object = None, limit: int = SWEEP_BATCH) -> list[UUID]:
    cutoff = (now or timezone.now()) - timedelta(days=retention_days(tenant))  # type: ignore[operator]
    with tenant_scope(tenant):
        due: list[UUID] = []
        for source in retention_sources():
            due.extend(source(tenant, cutoff)[: limit - len(due)])
            if len(due) >= limit:
                break
    return due


def sweep_tenant(
    tenant: Tenant, *, actor: Actor | None = None, batch_size: int = SWEEP_BATCH
) -> int:
    """Erase every due subject of ``tenant`` in batches; safe to rerun and to run twice at
    once (rows locked by the other run are skipped, and it erases them)."""
    actor = actor or SystemActor("retention-sweep")
    erased = 0
    seen: set[UUID] = set()
    while True:
        batch = [s for s in due_subject_ids(tenant, limit=batch_size) if s not in seen]
        if not batch:
            return erased
        for subject_id in batch:
            seen.add(subject_id)
            if erase_subject(
                tenant=tenant,
                subject_id=subject_id,
                reason=ErasureReason.RETENTION,
                actor=actor,
                skip_locked=True,
            ):
                erased += 1


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
