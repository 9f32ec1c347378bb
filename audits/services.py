"""Appending to the audit log: the one write every app makes for what matters."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from audits.chain import event_hash
from audits.context import current_request_context
from audits.models import AuditChainHead, AuditEvent
from tenants.actors import Actor, actor_label
from tenants.models import Tenant
from tenants.scoping import tenant_scope


def object_label(obj: models.Model) -> tuple[str, str]:
    """("app_label.model", "pk") for an event's object."""
    return obj._meta.label_lower, str(obj.pk)


def _normalised_ip(ip: str | None) -> str | None:
    # Stored as the database gives it back (PostgreSQL's inet prints the compressed form),
    # so the chained value is the same when verified.
    if not ip:
        return None
    try:
        return ipaddress.ip_address(ip).compressed
    except ValueError:
        return None


def _locked_head(tenant: Tenant) -> AuditChainHead:
    head = AuditChainHead.objects.select_for_update(of=("self",)).filter(tenant=tenant).first()
    if head is not None:
        return head
    try:
        # The first event of a tenant: two writers may race to create the head; the unique
        # constraint lets one win and the other lock the winner's row.
        with transaction.atomic():
            AuditChainHead(tenant=tenant).save()
    except IntegrityError:
        pass
    return AuditChainHead.objects.select_for_update(of=("self",)).get(tenant=tenant)


def record_event(
    *,
    tenant: Tenant,
    actor: Actor,
    action: str,
    target: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    fields: Iterable[str] = (),
    purpose: str = "",
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to ``tenant``'s chain and return it.

    Runs in the caller's transaction (a savepoint), so an event describes only what was
    committed with it. ``details`` must hold ids and labels, never personal data.
    """
    if target is not None:
        object_type, object_id = object_label(target)
    context = current_request_context()
    with tenant_scope(tenant), transaction.atomic():
        head = _locked_head(tenant)
        values: dict[str, Any] = {
            "tenant_id": tenant.pk,
            "sequence": head.sequence + 1,
            "occurred_at": timezone.now(),
            "actor": actor_label(actor),
            "action": action,
            "object_type": object_type,
            "object_id": str(object_id),
            "fields": sorted(fields),
            "purpose": purpose,
            "request_id": context.request_id,
            "ip": _normalised_ip(context.ip),
            "details": dict(details or {}),
            "prev_hash": head.hash,
        }
        event = AuditEvent(**values, hash=event_hash(values))
        event.save(force_insert=True)
        head.sequence, head.hash = event.sequence, event.hash
        head.save(update_fields=["sequence", "hash"])
    return event
