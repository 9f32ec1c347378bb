"""Erasure requests handled by staff: the privacy officer records a request verified in
person or by phone, with the evidence, and the erasure runs at once (the customer's own
online request is ``privacy.online_erasure``)."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.services import record_event
from privacy.erasure import erase_subject
from privacy.models import (
    DataSubject,
    ErasureLedgerEntry,
    ErasureReason,
    ErasureRequest,
    RequestChannel,
    RequestStatus,
)
from tenants.actors import Actor, actor_label
from tenants.models import Role, Tenant, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope


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
        mark_completed(request, entry)
        record_event(
            tenant=tenant,
            actor=actor,
            action="privacy.erasure_request_completed",
            target=request,
            details={"channel": channel, "reference": entry.reference if entry else ""},
        )
    return request


def mark_completed(request: ErasureRequest, entry: ErasureLedgerEntry | None) -> None:
    """Close ``request`` with the ledger entry of its erasure (None: the subject was already
    erased), inside the caller's tenant scope."""
    request.status, request.completed_at, request.ledger_entry = (
        RequestStatus.COMPLETED,
        timezone.now(),
        entry,
    )
    request.save(update_fields=["status", "completed_at", "ledger_entry"])
