"""Leak incident cases: opening one (or promoting an order anomaly to one), moving it through
its states, and containment actions that take effect at once (issue 18, §5.1).

Who may: a privacy officer, a supervisor or a tenant administrator of the case's tenant
(``CASE_MANAGERS``); anyone else is refused with ``PermissionDenied``. Every write is one
transaction with its timeline row (``CaseEvent``) and its audit event; moves and
containment take the case's row lock, so two moves cannot race. Texts are short, one line,
without control characters; the forms ask for no personal data and the audit events carry
only ids, codes and counts."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.models import AccessAlert
from audits.services import record_event
from core.errors import Conflict
from incidents import clocks
from incidents.models import (
    CASE_TEXT_MAX_LENGTH,
    CASE_TITLE_MAX_LENGTH,
    REPORT_REFERENCE_MAX_LENGTH,
    AnomalyKind,
    CaseEvent,
    CaseEventKind,
    CaseKind,
    CaseReport,
    CaseSeverity,
    CaseState,
    ContainmentAction,
    DataCategory,
    IncidentCase,
    OrderAnomaly,
    PrivacyReport,
)
from tenants.actors import Actor, actor_label
from tenants.models import IntegrationToken, Role, SuspensionScope, Tenant, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope
from tenants.services import do_deactivate_user, do_end_sessions, do_revoke_api_token
from tenants.suspensions import suspend

CASE_MANAGERS = (Role.PRIVACY_OFFICER, Role.SUPERVISOR, Role.TENANT_ADMIN)

S = CaseState
# The moves a case may make. Containment may be skipped (nothing left to contain), and a
# closed case is reopened into investigation.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    S.REPORTED: (S.CONTAINED, S.INVESTIGATING),
    S.CONTAINED: (S.INVESTIGATING,),
    S.INVESTIGATING: (S.NOTIFIED, S.REMEDIATED),
    S.NOTIFIED: (S.REMEDIATED,),
    S.REMEDIATED: (S.CLOSED, S.INVESTIGATING),
    S.CLOSED: (S.INVESTIGATING,),
}

# The kind of case an anomaly most likely is, when it is promoted.
_KIND_OF_ANOMALY = {
    AnomalyKind.LOST: CaseKind.LOST_PACKAGE,
    AnomalyKind.SEAL_MISMATCH: CaseKind.MIS_SENT_LABEL,
    AnomalyKind.WRONG_ADDRESS: CaseKind.MIS_SENT_LABEL,
}


def may_manage_cases(actor: Actor, tenant_id: int | None = None) -> bool:
    """A privacy officer, supervisor or tenant administrator (of ``tenant_id``, if given)."""
    return (
        isinstance(actor, User)
        and actor.is_active
        and actor.tenant_id is not None
        and (tenant_id is None or actor.tenant_id == tenant_id)
        and has_role(actor, *CASE_MANAGERS)
    )


def _require_manager(actor: Actor, tenant_id: int) -> User:
    if not may_manage_cases(actor, tenant_id):
        raise PermissionDenied(
            _(
                "Only a privacy officer, a supervisor or a tenant administrator handles incident cases."
            )
        )
    assert isinstance(actor, User)  # noqa: S101 - may_manage_cases checked it
    return actor


def allowed_moves(case: IncidentCase) -> list[CaseState]:
    return [CaseState(state) for state in TRANSITIONS.get(case.state, ())]


def _text(field: str, value: object, *, limit: int, required: bool) -> str:
    if not isinstance(value, str):
        raise ValidationError({field: _("Must be text.")})
    text = unicodedata.normalize("NFC", value).strip()
    if any(unicodedata.category(char) == "Cc" for char in text):  # one line: no line breaks
        raise ValidationError({field: _("Must not contain control characters.")})
    if required and not text:
        raise ValidationError({field: _("This field is required.")})
    if len(text) > limit:
        raise ValidationError({field: _("At most %(limit)d characters.") % {"limit": limit}})
    return text


def clean_case(
    *,
    title: object,
    severity: object,
    severity_reason: object,
    kind: object,
    data_categories: Iterable[object],
    affected_customers: object,
    discovered_at: object,
    discovered_by: object,
) -> dict[str, object]:
    errors: dict[str, list[str]] = {}
    values: dict[str, object] = {}
    for field, value, limit in (
        ("title", title, CASE_TITLE_MAX_LENGTH),
        ("severity_reason", severity_reason, CASE_TEXT_MAX_LENGTH),
        ("discovered_by", discovered_by, 100),
    ):
        try:
            values[field] = _text(field, value, limit=limit, required=True)
        except ValidationError as error:
            errors.update(error.message_dict)
    if severity not in CaseSeverity.values:
        errors["severity"] = [_("Choose a severity.")]
    if kind not in CaseKind.values:
        errors["kind"] = [_("Choose a kind.")]
    categories = list(data_categories)
    if any(category not in DataCategory.values for category in categories):
        errors["data_categories"] = [_("Choose from the listed categories.")]
    if (
        not isinstance(affected_customers, int)
        or isinstance(affected_customers, bool)
        or not 0 <= affected_customers <= 10_000_000
    ):
        errors["affected_customers"] = [_("Give a number from 0 to 10,000,000.")]
    if not isinstance(discovered_at, datetime) or timezone.is_naive(discovered_at):
        errors["discovered_at"] = [_("Give the date and time.")]
    elif discovered_at > timezone.now() + timedelta(minutes=5):
        errors["discovered_at"] = [_("Cannot be in the future.")]
    if errors:
        raise ValidationError(errors)
    values.update(
        severity=severity,
        kind=kind,
        # In the order of the list, each once.
        data_categories=[c for c in DataCategory.values if c in categories],
        affected_customers=affected_customers,
        discovered_at=discovered_at,
    )
    return values


def open_case(
    *,
    tenant: Tenant,
    title: str,
    severity: CaseSeverity | str,
    severity_reason: str,
    kind: CaseKind | str,
    data_categories: Iterable[str],
    affected_customers: int,
    discovered_at: datetime,
    discovered_by: str,
    is_drill: bool,
    actor: Actor,
    anomaly: OrderAnomaly | None = None,
    privacy_report: PrivacyReport | None = None,
    alert: AccessAlert | None = None,
) -> IncidentCase:
    """Open a case in the state "reported" (audited: ``incidents.case_opened``), promoted
    from ``anomaly``, ``privacy_report`` or an anomalous-access ``alert`` if given (each
    once: a ``Conflict`` names the case already opened from it)."""
    _require_manager(actor, tenant.pk)
    values = clean_case(
        title=title,
        severity=severity,
        severity_reason=severity_reason,
        kind=kind,
        data_categories=data_categories,
        affected_customers=affected_customers,
        discovered_at=discovered_at,
        discovered_by=discovered_by,
    )
    if anomaly is not None and anomaly.tenant_id != tenant.pk:
        raise Http404(_("No such anomaly."))
    if privacy_report is not None and privacy_report.tenant_id != tenant.pk:
        raise Http404(_("No such report."))
    if alert is not None and alert.tenant_id != tenant.pk:
        raise Http404(_("No such alert."))
    with transaction.atomic(), tenant_scope(tenant):
        # The tenant's row lock numbers its cases one after another.
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        if anomaly is not None:
            promoted = IncidentCase.objects.filter(anomaly=anomaly).first()
            if promoted is not None:
                raise Conflict(
                    _("This anomaly was already promoted to the case %(code)s.")
                    % {"code": promoted.code}
                )
        if privacy_report is not None:
            promoted = IncidentCase.objects.filter(privacy_report=privacy_report).first()
            if promoted is not None:
                raise Conflict(
                    _("This report was already promoted to the case %(code)s.")
                    % {"code": promoted.code}
                )
        if alert is not None:
            promoted = IncidentCase.objects.filter(alert=alert).first()
            if promoted is not None:
                raise Conflict(
                    _("This alert was already promoted to the case %(code)s.")
                    % {"code": promoted.code}
                )
        last = IncidentCase.objects.order_by("-number").values_list("number", flat=True).first()
        number = (last or 0) + 1
        now = timezone.now()
        case = IncidentCase(
            tenant=tenant,
            number=number,
            code=f"INC-{timezone.localtime(now):%Y}-{number:04d}",
            opened_by=actor_label(actor),
            is_drill=bool(is_drill),
            anomaly=anomaly,
            privacy_report=privacy_report,
            alert=alert,
            **values,
        )
        case.save(force_insert=True)
        CaseEvent(
            tenant=tenant,
            case=case,
            kind=CaseEventKind.OPENED,
            to_state=CaseState.REPORTED,
            actor=actor_label(actor),
        ).save(force_insert=True)
        clocks.ensure_clocks(case)
        record_event(
            tenant=tenant,
            actor=actor,
            action="incidents.case_opened",
            target=case,
            details={
                "case": case.pk,
                "severity": str(case.severity),
                "kind": str(case.kind),
                "drill": case.is_drill,
                "anomaly": anomaly.pk if anomaly is not None else None,
                **({"privacy_report": privacy_report.pk} if privacy_report is not None else {}),
                **({"alert": alert.pk} if alert is not None else {}),
            },
        )
    return case


def promote_anomaly(
    *,
    anomaly: OrderAnomaly,
    actor: Actor,
    severity: CaseSeverity | str = CaseSeverity.GENERAL,
    is_drill: bool = False,
) -> IncidentCase:
    """Open a case from an order anomaly, linked to it: graded "general" until reviewed,
    one affected customer (the order's), discovered when the anomaly was reported. An
    anomaly is promoted once (``Conflict`` naming the case)."""
    kind = AnomalyKind(anomaly.kind)
    return open_case(
        tenant=anomaly.tenant,
        title=_("From an order anomaly: %(kind)s") % {"kind": kind.label},
        severity=severity,
        severity_reason=_("Graded when promoted from an anomaly; review the grade."),
        kind=_KIND_OF_ANOMALY.get(kind, CaseKind.OTHER),
        data_categories=[],
        affected_customers=1,
        discovered_at=anomaly.reported_at,
        discovered_by=_("Order anomaly"),
        is_drill=is_drill,
        actor=actor,
        anomaly=anomaly,
    )


def _lock(case: IncidentCase) -> IncidentCase:
    return IncidentCase.objects.select_for_update(of=("self",)).get(pk=case.pk)


def move_case(
    *, case: IncidentCase, to: CaseState | str, actor: Actor, note: str = ""
) -> IncidentCase:
    """Move ``case`` to the state ``to`` if ``TRANSITIONS`` allows it from its state now
    (under the row lock); otherwise a ``Conflict`` naming both states. Audited
    (``incidents.case_moved``: the states, never the note)."""
    _require_manager(actor, case.tenant_id)
    if to not in CaseState.values:
        raise ValidationError({"to": _("Choose a state.")})
    target = CaseState(to)
    text = _text("note", note or "", limit=CASE_TEXT_MAX_LENGTH, required=False)
    with transaction.atomic(), tenant_scope(case.tenant):
        locked = _lock(case)
        source = CaseState(locked.state)
        if target not in TRANSITIONS[source]:
            raise Conflict(
                _("A case cannot move from “%(from)s” to “%(to)s”.")
                % {"from": source.label, "to": target.label}
            )
        locked.state = target
        locked.save(update_fields=["state"])
        CaseEvent(
            tenant=locked.tenant,
            case=locked,
            kind=CaseEventKind.MOVED,
            from_state=source,
            to_state=target,
            actor=actor_label(actor),
            note=text,
        ).save(force_insert=True)
        if target == CaseState.CLOSED:
            clocks.start_summary_clock(locked, closed_at=timezone.now())
        record_event(
            tenant=locked.tenant,
            actor=actor,
            action="incidents.case_moved",
            target=locked,
            details={
                "case": locked.pk,
                "from_state": source.value,
                "to_state": target.value,
                "drill": locked.is_drill,
            },
        )
    return locked


def containment_users(case: IncidentCase) -> list[User]:
    """The users a containment action may act on: the case's tenant's, by username."""
    return list(User.objects.filter(tenant_id=case.tenant_id).order_by("username"))


def containment_tokens(case: IncidentCase) -> list[IntegrationToken]:
    """The tenant's live integration tokens, by name."""
    with tenant_scope(case.tenant):
        return list(IntegrationToken.objects.filter(revoked_at__isnull=True).order_by("name"))


def contain(
    *,
    case: IncidentCase,
    action: ContainmentAction | str,
    target_id: int,
    reason: str,
    actor: Actor,
) -> CaseEvent:
    """Take a containment action now — end a user's sessions, deactivate a user (and end
    their sessions; a rider's user too, which takes the rider out of dispatch), suspend a
    rider from dispatch until lifted (tenants.suspensions, source: the case's code; riders
    refuses to dispatch them), revoke an integration token — with a required reason; the result is
    recorded on the case's timeline and audited (``incidents.containment_done``; the
    tenants service writes its own event too). The target is looked up among the case's
    tenant's own users or tokens: any other id is a 404. A closed case takes no action
    (reopen it first). A drill's actions take effect too."""
    manager = _require_manager(actor, case.tenant_id)
    if action not in ContainmentAction.values:
        raise ValidationError({"action": _("Choose an action.")})
    chosen = ContainmentAction(action)
    text = _text("reason", reason, limit=CASE_TEXT_MAX_LENGTH, required=True)
    with transaction.atomic(), tenant_scope(case.tenant):
        locked = _lock(case)
        if locked.state == CaseState.CLOSED:
            raise Conflict(_("The case is closed: reopen it before taking an action."))
        count: int | None = None
        if chosen == ContainmentAction.REVOKE_TOKEN:
            token = IntegrationToken.objects.filter(pk=target_id).first()
            if token is None:
                raise Http404(_("No such integration token."))
            if token.revoked_at is not None:
                raise Conflict(_("This integration token is already revoked."))
            do_revoke_api_token(token=token, actor=actor)
            target_label = actor_label(token)
        else:
            user = User.objects.filter(tenant_id=locked.tenant_id, pk=target_id).first()
            if user is None:
                raise Http404(_("No such user."))
            if chosen == ContainmentAction.SUSPEND_DISPATCH:
                # Riders only; the suspension lives in tenants, riders enforces it.
                if not has_role(user, Role.RIDER):
                    raise ValidationError({"target": _("Choose a rider.")})
                suspend(
                    tenant=locked.tenant,
                    user=user,
                    scope=SuspensionScope.DISPATCH,
                    reason=text,
                    source=locked.code,
                    actor=actor,
                )
            elif chosen == ContainmentAction.DEACTIVATE_USER:
                if user.pk == manager.pk:
                    raise Conflict(_("You cannot deactivate yourself."))
                if not user.is_active:
                    raise Conflict(_("This user is already deactivated."))
                count = do_deactivate_user(user=user, actor=actor)
            else:
                count = do_end_sessions(user=user, actor=actor)
            target_label = actor_label(user)
        event = CaseEvent(
            tenant=locked.tenant,
            case=locked,
            kind=CaseEventKind.CONTAINMENT,
            action=chosen,
            target=target_label,
            count=count,
            actor=actor_label(actor),
            note=text,
        )
        event.save(force_insert=True)
        record_event(
            tenant=locked.tenant,
            actor=actor,
            action="incidents.containment_done",
            target=locked,
            details={
                "case": locked.pk,
                "containment": chosen.value,
                "target": target_label,
                "count": count,
                "drill": locked.is_drill,
            },
        )
    return event


def record_report(
    *, case: IncidentCase, report_id: int, reference: str, actor: Actor
) -> CaseReport:
    """Record that the report ``report_id`` of ``case`` was made, with the authority's
    reference number (required, at most 100 characters, no personal data). Once: a
    report already recorded is a ``Conflict``; another case's report is a 404. Audited
    (``incidents.case_report_made``: ids and the kind, never the reference)."""
    _require_manager(actor, case.tenant_id)
    text = _text("reference", reference, limit=REPORT_REFERENCE_MAX_LENGTH, required=True)
    with transaction.atomic(), tenant_scope(case.tenant):
        report = CaseReport.objects.select_for_update().filter(pk=report_id, case=case).first()
        if report is None:
            raise Http404(_("No such report."))
        if report.made_at is not None:
            raise Conflict(_("This report is already recorded as made."))
        report.made_at = timezone.now()
        report.reference = text
        report.made_by = actor_label(actor)
        report.save(update_fields=["made_at", "reference", "made_by"])
        CaseEvent(
            tenant=case.tenant,
            case=case,
            kind=CaseEventKind.REPORT_MADE,
            target=report.kind,
            actor=actor_label(actor),
            note=text,
        ).save(force_insert=True)
        record_event(
            tenant=case.tenant,
            actor=actor,
            action="incidents.case_report_made",
            target=case,
            details={
                "case": case.pk,
                "report": report.pk,
                "kind": report.kind,
                "drill": report.is_drill,
            },
        )
    return report


def case_for(actor: Actor, case_id: int) -> IncidentCase:
    """The case ``case_id`` of ``actor``'s tenant (inside its scope), or a 404."""
    if not isinstance(actor, User) or actor.tenant_id is None:
        raise Http404(_("No such case."))
    case = IncidentCase.objects.filter(pk=case_id, tenant_id=actor.tenant_id).first()
    if case is None:
        raise Http404(_("No such case."))
    return case
