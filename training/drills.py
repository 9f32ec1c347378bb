"""Drills (issue 19, point 6, §7.2.2): planning one, running it as an incident case in
drill mode, closing it with lessons learned; and the tenant's drills of the last 12 months.

Who may: a tenant administrator, a supervisor or a privacy officer of the drill's tenant
(``DRILL_MANAGERS``); anyone else is refused with ``PermissionDenied``. Every write is one
transaction with its audit event (ids, codes and counts only); running and closing take the
drill's row lock, so two clicks cannot run a drill twice.

Incident cases live in a later layer (incidents), which training may not import. So the
incidents app registers, in its ``AppConfig.ready()``, a *runner* that opens a drill case
for a drill and a *reader* that tells the state of a case by id. Without a runner a drill
is recorded with its own outcome only."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.services import record_event
from core.errors import Conflict
from tenants.actors import Actor, actor_label
from tenants.models import Role, Tenant, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope
from training.models import (
    DRILL_LESSONS_MAX_LENGTH,
    DRILL_TITLE_MAX_LENGTH,
    Drill,
    DrillOutcome,
    DrillScenario,
    DrillState,
)

DRILL_MANAGERS = (Role.TENANT_ADMIN, Role.SUPERVISOR, Role.PRIVACY_OFFICER)
# At least one drill held in the last 12 months (§7.2.2).
DRILL_WINDOW = timedelta(days=365)
# How far ahead a drill may be planned, and how far back one held may be recorded.
PLAN_AHEAD = timedelta(days=2 * 365)
RECORD_BACK = timedelta(days=365)


# --- the incidents app's hooks -----------------------------------------------------------


@dataclass(frozen=True)
class DrillCase:
    """An incident case as training sees it: its id, its code, the back office's page,
    its state's label and whether it is closed."""

    id: int
    code: str
    url: str
    state: str = ""
    closed: bool = False


# runner(drill, actor) opens a drill case for the drill (inside the caller's transaction)
# and returns it; reader(drill) returns the drill's linked case now (None: no such case).
DrillRunner = Callable[[Drill, User], DrillCase]
DrillCaseReader = Callable[[Drill], "DrillCase | None"]

_hooks: dict[str, Callable[..., object]] = {}


def register_drill_runner(runner: DrillRunner, reader: DrillCaseReader) -> None:
    """Register how a drill runs as an incident case (the incidents app's ``ready()``)."""
    _hooks["runner"] = runner
    _hooks["reader"] = reader


def unregister_drill_runner() -> None:
    """Forget the runner (tests of the fallback)."""
    _hooks.clear()


def has_drill_runner() -> bool:
    return "runner" in _hooks


def linked_case(drill: Drill) -> DrillCase | None:
    """The drill's incident case, as the registered reader tells it now; without a reader,
    what the drill recorded (no state)."""
    if drill.case_id is None:
        return None
    reader = _hooks.get("reader")
    if reader is not None:
        found = reader(drill)
        if found is not None:
            assert isinstance(found, DrillCase)  # noqa: S101 - the registered hook's type
            return found
    return DrillCase(id=drill.case_id, code=drill.case_code, url="")


# --- who may -----------------------------------------------------------------------------


def may_manage_drills(actor: Actor, tenant_id: int | None = None) -> bool:
    """A tenant administrator, supervisor or privacy officer (of ``tenant_id``, if given)."""
    return (
        isinstance(actor, User)
        and actor.is_active
        and actor.tenant_id is not None
        and (tenant_id is None or actor.tenant_id == tenant_id)
        and has_role(actor, *DRILL_MANAGERS)
    )


def _require_manager(actor: Actor, tenant_id: int) -> User:
    if not may_manage_drills(actor, tenant_id):
        raise PermissionDenied(
            _("Only a tenant administrator, a supervisor or a privacy officer handles drills.")
        )
    assert isinstance(actor, User)  # noqa: S101 - may_manage_drills checked it
    return actor


def drill_for(actor: Actor, drill_id: int) -> Drill:
    """The drill ``drill_id`` of ``actor``'s tenant (inside its scope), or a 404."""
    if not isinstance(actor, User) or actor.tenant_id is None:
        raise Http404(_("No such drill."))
    drill = Drill.objects.filter(pk=drill_id, tenant_id=actor.tenant_id).first()
    if drill is None:
        raise Http404(_("No such drill."))
    return drill


# --- input -------------------------------------------------------------------------------


def _text(field: str, value: object, *, limit: int, required: bool, lines: bool) -> str:
    if not isinstance(value, str):
        raise ValidationError({field: _("Must be text.")})
    text = unicodedata.normalize("NFC", value).replace("\r\n", "\n").strip()
    allowed = {"\n"} if lines else set()
    if any(unicodedata.category(c) == "Cc" and c not in allowed for c in text):
        raise ValidationError({field: _("Must not contain control characters.")})
    if required and not text:
        raise ValidationError({field: _("This field is required.")})
    if len(text) > limit:
        raise ValidationError({field: _("At most %(limit)d characters.") % {"limit": limit}})
    return text


def tenant_users(tenant_id: int) -> list[User]:
    """The users who may be named as participants: the tenant's active users, by username."""
    return list(User.objects.filter(tenant_id=tenant_id, is_active=True).order_by("username"))


def clean_drill(
    *,
    tenant_id: int,
    scenario: object,
    title: object,
    scheduled_for: object,
    participant_roles: Iterable[object],
    participant_ids: Iterable[object],
) -> dict[str, object]:
    errors: dict[str, list[str]] = {}
    values: dict[str, object] = {}
    try:
        values["title"] = _text(
            "title", title, limit=DRILL_TITLE_MAX_LENGTH, required=True, lines=False
        )
    except ValidationError as error:
        errors.update(error.message_dict)
    if scenario not in DrillScenario.values:
        errors["scenario"] = [_("Choose a scenario.")]
    now = timezone.now()
    if not isinstance(scheduled_for, datetime) or timezone.is_naive(scheduled_for):
        errors["scheduled_for"] = [_("Give the date and time.")]
    elif not now - RECORD_BACK <= scheduled_for <= now + PLAN_AHEAD:
        errors["scheduled_for"] = [_("Choose a time within a year back and two years ahead.")]
    roles = list(participant_roles)
    if any(role not in Role.values for role in roles):
        errors["participant_roles"] = [_("Choose from the listed roles.")]
    wanted = list(participant_ids)
    ids: set[int] = set()
    for value in wanted:
        if isinstance(value, int) and not isinstance(value, bool):
            ids.add(value)
        elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
            ids.add(int(value))
        else:
            errors["participants"] = [_("Choose from the listed users.")]
            break
    found = set(
        User.objects.filter(tenant_id=tenant_id, is_active=True, pk__in=ids).values_list(
            "pk", flat=True
        )
        if ids
        else []
    )
    if ids - found:
        errors["participants"] = [_("Choose from the listed users.")]
    if not roles and not ids and "participants" not in errors:
        errors["participant_roles"] = [_("Choose the roles taking part, or name people.")]
    if errors:
        raise ValidationError(errors)
    values.update(
        scenario=scenario,
        scheduled_for=scheduled_for,
        participant_roles=[r for r in Role.values if r in roles],
        participants=[f"user:{pk}" for pk in sorted(ids)],
    )
    return values


# --- the use cases ---------------------------------------------------------------------


def plan_drill(
    *,
    tenant: Tenant,
    scenario: DrillScenario | str,
    title: str,
    scheduled_for: datetime,
    participant_roles: Iterable[str],
    participant_ids: Iterable[int | str] = (),
    actor: Actor,
) -> Drill:
    """Plan a drill (audited: ``training.drill_planned``: the scenario and counts)."""
    _require_manager(actor, tenant.pk)
    values = clean_drill(
        tenant_id=tenant.pk,
        scenario=scenario,
        title=title,
        scheduled_for=scheduled_for,
        participant_roles=participant_roles,
        participant_ids=participant_ids,
    )
    with transaction.atomic(), tenant_scope(tenant):
        drill = Drill(tenant=tenant, planned_by=actor_label(actor), **values)
        drill.save(force_insert=True)
        record_event(
            tenant=tenant,
            actor=actor,
            action="training.drill_planned",
            target=drill,
            details={
                "drill": drill.pk,
                "scenario": drill.scenario,
                "roles": len(drill.participant_roles),
                "participants": len(drill.participants),
            },
        )
    return drill


def _lock(drill: Drill) -> Drill:
    return Drill.objects.select_for_update(of=("self",)).get(pk=drill.pk)


def run_drill(*, drill: Drill, actor: Actor) -> DrillCase:
    """Run a planned drill as an incident case in drill mode, through the registered
    runner, and link the case (audited: ``training.drill_run``). A drill runs once
    (``Conflict``); without a runner it cannot run as a case (``Conflict``: close it with
    its own outcome instead)."""
    manager = _require_manager(actor, drill.tenant_id)
    runner = _hooks.get("runner")
    if runner is None:
        raise Conflict(
            _("Drills cannot run as incident cases here: close the drill with its outcome.")
        )
    with transaction.atomic(), tenant_scope(drill.tenant_id):
        locked = _lock(drill)
        if locked.state != DrillState.PLANNED:
            raise Conflict(
                _("This drill already ran as the case %(code)s.") % {"code": locked.case_code}
                if locked.case_code
                else _("This drill is closed.")
            )
        case = runner(locked, manager)
        assert isinstance(case, DrillCase)  # noqa: S101 - the registered hook's type
        locked.state = DrillState.RUNNING
        locked.case_id = case.id
        locked.case_code = case.code
        locked.run_at = timezone.now()
        locked.run_by = actor_label(actor)
        locked.save(update_fields=["state", "case_id", "case_code", "run_at", "run_by"])
        record_event(
            tenant=locked.tenant,
            actor=actor,
            action="training.drill_run",
            target=locked,
            details={"drill": locked.pk, "case": case.id, "case_code": case.code},
        )
    return case


def close_drill(*, drill: Drill, outcome: DrillOutcome | str, lessons: str, actor: Actor) -> Drill:
    """Close a drill with its outcome and the lessons learned (required unless it was
    cancelled; no personal data). A drill whose incident case is still open is not closed
    (``Conflict`` naming the case); a closed drill is not closed again. Audited
    (``training.drill_closed``: the outcome, never the lessons)."""
    _require_manager(actor, drill.tenant_id)
    if outcome not in DrillOutcome.values:
        raise ValidationError({"outcome": _("Choose an outcome.")})
    chosen = DrillOutcome(outcome)
    text = _text(
        "lessons",
        lessons,
        limit=DRILL_LESSONS_MAX_LENGTH,
        required=chosen != DrillOutcome.CANCELLED,
        lines=True,
    )
    with transaction.atomic(), tenant_scope(drill.tenant_id):
        locked = _lock(drill)
        if locked.state == DrillState.CLOSED:
            raise Conflict(_("This drill is already closed."))
        case = linked_case(locked)
        if case is not None and case.state and not case.closed:
            raise Conflict(
                _("Close the drill case %(code)s before closing the drill.") % {"code": case.code}
            )
        now = timezone.now()
        locked.state = DrillState.CLOSED
        locked.outcome = chosen
        locked.lessons = text
        locked.closed_at = now
        locked.closed_by = actor_label(actor)
        if chosen != DrillOutcome.CANCELLED:
            locked.held_at = locked.run_at or min(locked.scheduled_for, now)
        locked.save(
            update_fields=["state", "outcome", "lessons", "closed_at", "closed_by", "held_at"]
        )
        record_event(
            tenant=locked.tenant,
            actor=actor,
            action="training.drill_closed",
            target=locked,
            details={
                "drill": locked.pk,
                "outcome": chosen.value,
                "case": locked.case_id,
            },
        )
    return locked


# --- the 12-month count (a panel for the supervisor dashboard, issue 20) -----------------


def drills_last_12_months(tenant: Tenant | int) -> int:
    """How many of the tenant's drills were held (fully or partly) in the last 12 months."""
    since = timezone.now() - DRILL_WINDOW
    with tenant_scope(tenant):
        return Drill.objects.filter(held_at__gte=since, held_at__lte=timezone.now()).count()


def drill_flag(tenant: Tenant | int) -> bool:
    """True (flagged) when the tenant held fewer than one drill in the last 12 months."""
    return drills_last_12_months(tenant) < 1
