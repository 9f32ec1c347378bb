"""Retention: how long a tenant keeps a finished order's customer (its policy, set by an
administrator or the privacy officer, audited), and the sweep that erases every customer
whose last order finished before the cutoff, in batches (``privacy.erasure``), safe to rerun
and to run twice at once."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.services import record_event
from privacy.erasure import SWEEP_BATCH, erase_subjects
from privacy.models import (
    ErasureReason,
    RetentionPolicy,
)
from privacy.registry import retention_sources
from privacy.selectors import retention_days
from tenants.actors import Actor, SystemActor, actor_label
from tenants.models import Role, Tenant, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope


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
                    materialise=False,
                )
            )
    return len(seen)
