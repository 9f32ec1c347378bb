"""Suspensions of a tenant's users from dispatch or from reveal (``UserSuspension``).

The layers above write them — incidents' containment (a rider suspended from dispatch while
a case is handled), a later issue's sanctions in audits — and enforce them: riders'
``DISPATCH_REQUIREMENTS`` refuses a suspended rider. Nothing here checks who may suspend, and
nothing here writes an audit event (tenants sits below audits): the caller checks the actor's
role and records its own event, in the same transaction. Every function runs inside the
tenant's scope (``tenant_scope``); ``active_suspensions`` answers in one query.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Iterable
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from core.errors import Conflict
from tenants.actors import Actor, actor_label
from tenants.models import (
    SUSPENSION_REASON_MAX_LENGTH,
    SuspensionScope,
    Tenant,
    User,
    UserSuspension,
)
from tenants.scoping import tenant_scope


def _reason(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError({"reason": _("Must be text.")})
    text = unicodedata.normalize("NFC", value).strip()
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise ValidationError({"reason": _("Must not contain control characters.")})
    if not text:
        raise ValidationError({"reason": _("This field is required.")})
    if len(text) > SUSPENSION_REASON_MAX_LENGTH:
        text = text[: SUSPENSION_REASON_MAX_LENGTH - 1] + "…"
    return text


def _active_q(now: datetime) -> Q:
    return Q(lifted_at__isnull=True, starts_at__lte=now) & (
        Q(ends_at__isnull=True) | Q(ends_at__gt=now)
    )


def active_suspensions(
    user_ids: Iterable[int],
    scope: SuspensionScope | str | Collection[SuspensionScope | str],
    *,
    now: datetime | None = None,
) -> dict[int, UserSuspension]:
    """The suspension in force now for each of ``user_ids`` in ``scope`` (one scope, or
    several: any of them), by user id (the one that lasts longest when several are; users
    not suspended are left out). One query on the (tenant, scope, user) index, inside the
    tenant's scope."""
    ids = list(user_ids)
    if not ids:
        return {}
    scopes = [scope] if isinstance(scope, str) else list(scope)
    now = now or timezone.now()
    found: dict[int, UserSuspension] = {}
    for row in UserSuspension.objects.filter(_active_q(now), scope__in=scopes, user_id__in=ids):
        held = found.get(row.user_id)
        if held is None or (
            held.ends_at is not None and (row.ends_at is None or row.ends_at > held.ends_at)
        ):
            found[row.user_id] = row
    return found


def suspended_message(suspension: UserSuspension) -> str:
    """The sentence telling a user why they are refused: the scope and until when (in the
    tenant's time zone), never the reason's text (it may name an incident). Inside the
    tenant's scope."""
    scope = SuspensionScope(suspension.scope).label.lower()
    if suspension.ends_at is None:
        return _("You are suspended from %(scope)s until it is lifted.") % {"scope": scope}
    when = timezone.localtime(suspension.ends_at, suspension.tenant.zone)
    return _("You are suspended from %(scope)s until %(when)s.") % {
        "scope": scope,
        "when": date_format(when, "DATETIME_FORMAT"),
    }


def suspend(
    *,
    tenant: Tenant,
    user: User,
    scope: SuspensionScope | str,
    reason: str,
    source: str,
    actor: Actor,
    ends_at: datetime | None = None,
) -> UserSuspension:
    """Suspend ``user`` (of ``tenant``; any other is a 404) in ``scope`` from now until
    ``ends_at`` (none: until lifted). A user already suspended in that scope until later
    (or until lifted) is a ``Conflict``. Inside the caller's transaction when there is one."""
    if scope not in SuspensionScope.values:
        raise ValidationError({"scope": _("Choose a scope.")})
    text = _reason(reason)
    now = timezone.now()
    if ends_at is not None and ends_at <= now:
        raise ValidationError({"ends_at": _("Must be in the future.")})
    if user.tenant_id != tenant.pk:
        raise Http404(_("No such user."))
    with transaction.atomic(), tenant_scope(tenant):
        # The user's row lock: two suspensions of one user cannot race.
        User.objects.select_for_update().filter(pk=user.pk).first()
        held = active_suspensions([user.pk], scope, now=now).get(user.pk)
        if held is not None and (
            held.ends_at is None or (ends_at is not None and held.ends_at >= ends_at)
        ):
            raise Conflict(
                _("%(user)s is already suspended from %(scope)s.")
                % {"user": user.username, "scope": SuspensionScope(scope).label.lower()}
            )
        suspension = UserSuspension(
            tenant=tenant,
            user=user,
            scope=scope,
            starts_at=now,
            ends_at=ends_at,
            reason=text,
            source=source[:40],
            created_by=actor_label(actor),
        )
        suspension.save(force_insert=True)
    return suspension


def lift(*, tenant: Tenant, suspension_id: int, actor: Actor) -> UserSuspension:
    """Lift the suspension ``suspension_id`` of ``tenant`` now (another tenant's or an
    unknown id is a 404; one already lifted or ended is a ``Conflict``)."""
    with transaction.atomic(), tenant_scope(tenant):
        suspension = UserSuspension.objects.select_for_update().filter(pk=suspension_id).first()
        if suspension is None:
            raise Http404(_("No such suspension."))
        now = timezone.now()
        if not suspension.is_active_at(now):
            raise Conflict(_("This suspension is no longer in force."))
        suspension.lifted_at = now
        suspension.lifted_by = actor_label(actor)
        suspension.save(update_fields=["lifted_at", "lifted_by"])
    return suspension


def suspensions_from(tenant: Tenant, source: str) -> list[UserSuspension]:
    """The suspensions ``source`` imposed (in force or not), newest first."""
    with tenant_scope(tenant):
        return list(
            UserSuspension.objects.filter(source=source)
            .select_related("user")
            .order_by("-starts_at", "-pk")
        )
