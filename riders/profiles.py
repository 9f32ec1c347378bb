"""Rider profiles: created for a user holding the rider role (by the demo seeder, or when
the rider signs the agreement for the first time — never on a page view), and edited in the
back office (vehicle, shift, active)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from audits.services import record_event
from riders.models import Rider
from tenants.actors import Actor
from tenants.models import Role, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope


def ensure_rider_profile(*, user: User, actor: Actor) -> Rider:
    """The rider profile of a user holding the rider role (created on first need)."""
    if not has_role(user, Role.RIDER):
        raise ValidationError({"user": _("This user does not hold the rider role.")})
    with transaction.atomic(), tenant_scope(user.tenant_id):
        rider, created = Rider.objects.get_or_create(tenant_id=user.tenant_id, user=user)
        if created:
            record_event(
                tenant=rider.tenant, actor=actor, action="riders.rider_created", target=rider
            )
    return rider


def update_rider(*, rider: Rider, actor: Actor, changed_fields: list[str]) -> Rider:
    """Save a rider profile edited in the back office (vehicle, shift, active)."""
    if not isinstance(actor, User) or not has_role(actor, Role.TENANT_ADMIN, Role.DISPATCHER):
        raise PermissionDenied(_("Only administrators and dispatchers edit riders."))
    with transaction.atomic(), tenant_scope(rider.tenant_id):
        rider.save(
            update_fields=[f for f in changed_fields if f in {"vehicle", "on_shift", "is_active"}]
            or None
        )
        record_event(
            tenant=rider.tenant,
            actor=actor,
            action="riders.rider_changed",
            target=rider,
            details={
                "fields": sorted(changed_fields),
                # The shift's state at each change: the alerts judge a reveal by it.
                **({"on_shift": bool(rider.on_shift)} if "on_shift" in changed_fields else {}),
            },
        )
    return rider
