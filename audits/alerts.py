"""Anomalous-access alerts (issue 20, point 2): who sees them, and what a supervisor does with
one — acknowledge it, dismiss it with a reason, or promote it to an incident case — and the
thresholds' settings. One service per use case: the permission check, the alert's row lock,
the change and its audit event (``alerts.*``) in one transaction.

States: open → acknowledged; open or acknowledged → dismissed (a reason is required) or
promoted (to an incident case, once). Any other move is a ``Conflict`` (409) naming the
alert's state.

Promotion opens the case through the promoter incidents registers from its ``ready()``
(``register_alert_promoter``): audits cannot import incidents. The promoter opens the case
linked to the alert and returns its id and code, which the alert keeps.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.hours import settings_for
from audits.models import (
    ALERT_REASON_MAX_LENGTH,
    LIVE_ALERT_STATES,
    AccessAlert,
    AlertState,
    SupervisionSettings,
)
from audits.panels import may_supervise as is_supervisor
from audits.services import record_event
from core.errors import Conflict
from core.ids import parse_id
from tenants.actors import Actor
from tenants.models import Role, Tenant, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope

#: Who may change the thresholds (SupervisionSettings).
THRESHOLD_EDITORS = (Role.TENANT_ADMIN, Role.PRIVACY_OFFICER)
THRESHOLD_FIELDS = (
    "workday_start",
    "workday_end",
    "reveal_burst_count",
    "reveal_burst_minutes",
    "denied_count",
    "denied_minutes",
    "paging_pages",
    "paging_minutes",
)


# --- who ------------------------------------------------------------------------------------


def may_supervise(user: Any, tenant_id: int | None = None) -> bool:
    """A supervisor, privacy officer or tenant administrator (of ``tenant_id``, if given)."""
    return is_supervisor(user, tenant_id)


def may_change_thresholds(user: Any, tenant_id: int | None = None) -> bool:
    return may_supervise(user, tenant_id) and has_role(user, *THRESHOLD_EDITORS)


def _require_supervisor(actor: Actor, tenant_id: int) -> User:
    if not may_supervise(actor, tenant_id):
        raise PermissionDenied(
            _("Only a supervisor, a privacy officer or a tenant administrator handles alerts.")
        )
    assert isinstance(actor, User)  # noqa: S101 - may_supervise checked it
    return actor


def _refuse_own(alert: AccessAlert, user: User) -> None:
    if alert.user_id == user.pk:
        raise Conflict(_("This alert is about you: another supervisor handles it."))


# --- reads ----------------------------------------------------------------------------------


def alerts_of(tenant: Tenant) -> QuerySet[AccessAlert]:
    """The tenant's alerts (call inside its scope), newest activity first, with the people."""
    return (
        AccessAlert.objects.filter(tenant=tenant)
        .select_related("user", "token", "acknowledged_by", "closed_by")
        .order_by("-last_seen_at", "-pk")
    )


def alert_for(actor: Actor, alert_id: object) -> AccessAlert:
    """The alert ``alert_id`` of the actor's tenant, for a supervisor; anything else (another
    tenant's alert, a malformed id, someone who may not see alerts) is a 404 — and so is an
    alert about the supervisor themselves: nobody handles the alert about their own access
    (the tenant's other supervisors do; the same rule as violations, decision 0016)."""
    if not isinstance(actor, User) or actor.tenant_id is None or not may_supervise(actor):
        raise Http404(_("No such alert."))
    pk = parse_id(alert_id)
    if pk is None:
        raise Http404(_("No such alert."))
    with tenant_scope(actor.tenant_id):
        alert = alerts_of(actor.tenant).filter(pk=pk).first()  # type: ignore[arg-type]
    if alert is None or alert.tenant_id != actor.tenant_id or alert.user_id == actor.pk:
        raise Http404(_("No such alert."))
    return alert


# --- the promoter incidents registers -------------------------------------------------------


@dataclass(frozen=True)
class PromotedCase:
    """What the promoter returns: the case opened from the alert."""

    case_id: int
    code: str


@dataclass(frozen=True)
class AlertPromoter:
    promote: Callable[[AccessAlert, User], PromotedCase]
    case_url: Callable[[int], str]


_promoter: list[AlertPromoter] = []


def register_alert_promoter(
    promote: Callable[[AccessAlert, User], PromotedCase], *, case_url: Callable[[int], str]
) -> None:
    """Register the function that opens an incident case from an alert (incidents, from its
    ``ready()``): ``promote(alert, user)`` opens the case linked to the alert (in the caller's
    transaction; raising ``Conflict`` if one is already linked) and returns a
    ``PromotedCase``; ``case_url(case_id)`` is the case's back-office page."""
    _promoter[:] = [AlertPromoter(promote, case_url)]


def alert_promoter() -> AlertPromoter | None:
    return _promoter[0] if _promoter else None


def case_url(alert: AccessAlert) -> str | None:
    promoter = alert_promoter()
    if alert.case_id is None or promoter is None:
        return None
    return promoter.case_url(alert.case_id)


# --- the moves ------------------------------------------------------------------------------


def _locked(alert: AccessAlert) -> AccessAlert:
    return AccessAlert.objects.select_for_update(of=("self",)).get(
        pk=alert.pk, tenant_id=alert.tenant_id
    )


def _state_conflict(alert: AccessAlert) -> Conflict:
    if alert.state == AlertState.PROMOTED:
        return Conflict(
            _("This alert was already promoted to the case %(code)s.") % {"code": alert.case_code},
            state=alert.state,
        )
    return Conflict(
        _("This alert is %(state)s: that is not possible now.")
        % {"state": AlertState(alert.state).label},
        state=alert.state,
    )


def acknowledge_alert(*, alert: AccessAlert, actor: Actor) -> AccessAlert:
    """Open → acknowledged: someone is looking into it."""
    user = _require_supervisor(actor, alert.tenant_id)
    _refuse_own(alert, user)
    with transaction.atomic(), tenant_scope(alert.tenant_id):
        locked = _locked(alert)
        if locked.state != AlertState.OPEN:
            raise _state_conflict(locked)
        locked.state = AlertState.ACKNOWLEDGED
        locked.acknowledged_by, locked.acknowledged_at = user, timezone.now()
        locked.save(update_fields=["state", "acknowledged_by", "acknowledged_at"])
        record_event(
            tenant=locked.tenant,
            actor=actor,
            action="alerts.acknowledged",
            target=locked,
            details={"rule": locked.rule},
        )
    return locked


def clean_reason(value: object) -> str:
    """A dismissal's reason: required, one line, at most 500 characters."""
    if not isinstance(value, str):
        raise ValidationError({"reason": _("Must be text.")})
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        raise ValidationError({"reason": _("Give the reason for dismissing the alert.")})
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise ValidationError({"reason": _("Must not contain control characters.")})
    if len(text) > ALERT_REASON_MAX_LENGTH:
        raise ValidationError(
            {"reason": _("At most %(limit)d characters.") % {"limit": ALERT_REASON_MAX_LENGTH}}
        )
    return text


def dismiss_alert(*, alert: AccessAlert, actor: Actor, reason: object) -> AccessAlert:
    """Open or acknowledged → dismissed, with a reason (kept on the alert, not in the log)."""
    user = _require_supervisor(actor, alert.tenant_id)
    _refuse_own(alert, user)
    text = clean_reason(reason)
    with transaction.atomic(), tenant_scope(alert.tenant_id):
        locked = _locked(alert)
        if locked.state not in LIVE_ALERT_STATES:
            raise _state_conflict(locked)
        locked.state = AlertState.DISMISSED
        locked.closed_by, locked.closed_at, locked.dismiss_reason = user, timezone.now(), text
        locked.save(update_fields=["state", "closed_by", "closed_at", "dismiss_reason"])
        record_event(
            tenant=locked.tenant,
            actor=actor,
            action="alerts.dismissed",
            target=locked,
            details={"rule": locked.rule},
        )
    return locked


def promote_alert(*, alert: AccessAlert, actor: Actor) -> AccessAlert:
    """Open or acknowledged → promoted: an incident case opened from the alert (once; a
    second promotion is a ``Conflict`` naming the case)."""
    user = _require_supervisor(actor, alert.tenant_id)
    _refuse_own(alert, user)
    promoter = alert_promoter()
    if promoter is None:
        raise Conflict(_("Incident cases are not available."))
    with transaction.atomic(), tenant_scope(alert.tenant_id):
        locked = _locked(alert)
        if locked.state not in LIVE_ALERT_STATES:
            raise _state_conflict(locked)
        case = promoter.promote(locked, user)
        locked.state = AlertState.PROMOTED
        locked.closed_by, locked.closed_at = user, timezone.now()
        locked.case_id, locked.case_code = case.case_id, case.code
        locked.save(update_fields=["state", "closed_by", "closed_at", "case_id", "case_code"])
        record_event(
            tenant=locked.tenant,
            actor=actor,
            action="alerts.promoted",
            target=locked,
            details={"rule": locked.rule, "case": case.case_id, "case_code": case.code},
        )
    return locked


# --- thresholds -----------------------------------------------------------------------------


def change_supervision_settings(
    *, tenant: Tenant, actor: Actor, values: Mapping[str, Any]
) -> SupervisionSettings:
    """Change the tenant's thresholds and working hours (a tenant administrator or privacy
    officer), validated by the model's validators (400 naming the field); audited
    ``alerts.settings_changed`` with the names of the fields that changed."""
    if not may_change_thresholds(actor, tenant.pk):
        raise PermissionDenied(
            _("Only a tenant administrator or a privacy officer changes the thresholds.")
        )
    unknown = sorted(set(values) - set(THRESHOLD_FIELDS))
    if unknown:
        raise ValidationError({name: _("Unknown field.") for name in unknown})
    with transaction.atomic(), tenant_scope(tenant):
        current = settings_for(tenant)
        settings = SupervisionSettings.objects.select_for_update(of=("self",)).get(
            pk=current.pk, tenant=tenant
        )
        changed = [
            name
            for name in THRESHOLD_FIELDS
            if name in values and getattr(settings, name) != values[name]
        ]
        for name in changed:
            setattr(settings, name, values[name])
        settings.full_clean(exclude=["tenant"])
        if changed:
            settings.save(update_fields=changed)
            record_event(
                tenant=tenant,
                actor=actor,
                action="alerts.settings_changed",
                target=settings,
                details={"fields": changed},
            )
    return settings
