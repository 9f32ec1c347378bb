"""Anomalous-access rules (issue 20, point 2): a small registry, evaluated over a tenant's new
audit events by ``audits.alert_evaluation``.

A rule names the actions it reads and a function that, given the new events of those actions
(and the tenant's ``SupervisionSettings``), returns its firings: a person (the log's actor
label, ``user:7`` or ``token:3``) and the ids of the events that made it fire. A later app adds
a rule from its ``AppConfig.ready()`` with ``register_rule``; audits imports no later app.

Two rules need to know about orders and riders, which audits cannot import; those apps
register checkers from their ``ready()``:

- ``register_assignment_checker(check)``: ``check(tenant, reveals)`` gets the reveals of the
  new events (``RevealFact``: event id, user id, object type, object ids, time) and returns
  the ids of the events that revealed an order not assigned to the user, or not at a state
  the user's role handles ("reveal_unassigned");
- ``register_shift_checker(check)``: the same for reveals made outside the revealer's shift
  ("reveal_outside_shift").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from audits.hours import outside_working_hours
from audits.models import AuditEvent, SupervisionSettings
from tenants.models import Tenant

REVEAL_ACTIONS = frozenset({"privacy.reveal", "privacy.reveal_batch"})
DENIED_ACTIONS = frozenset(
    {
        "privacy.reveal_denied",
        "privacy.reveal_batch_denied",
        "privacy.search_denied",
        "alerts.not_found_probe",
    }
)

# The rules' codes (what an alert's ``rule`` holds; the back office filters by them).
REVEAL_BURST = "reveal_burst"
REVEAL_UNASSIGNED = "reveal_unassigned"
REVEAL_OUTSIDE_HOURS = "reveal_outside_hours"
REVEAL_OUTSIDE_SHIFT = "reveal_outside_shift"
DENIED_ACCESS = "denied_access"
TOKEN_NEW_NETWORK = "token_new_network"  # noqa: S105 - a rule code, not a secret
BULK_PAGING = "bulk_paging"


@dataclass(frozen=True)
class Firing:
    """A rule fired for ``person`` (an actor label) because of ``events`` (event ids)."""

    person: str
    events: tuple[int, ...]


@dataclass(frozen=True)
class RuleInput:
    """What a rule reads: the tenant, its thresholds, and the new events (in sequence order)
    of the actions the rule named."""

    tenant: Tenant
    settings: SupervisionSettings
    events: Sequence[AuditEvent]


@dataclass(frozen=True)
class AlertRule:
    code: str
    label: str | Promise
    actions: frozenset[str]
    evaluate: Callable[[RuleInput], list[Firing]]


_rules: dict[str, AlertRule] = {}


def register_rule(
    code: str,
    *,
    label: str | Promise,
    actions: Iterable[str],
    evaluate: Callable[[RuleInput], list[Firing]],
) -> AlertRule:
    """Register (or register again, identically) the rule ``code``."""
    rule = AlertRule(code, label, frozenset(actions), evaluate)
    known = _rules.get(code)
    if known is not None and known != rule:
        raise ValueError(f"Alert rule {code!r} is already registered differently.")
    if not code or len(code) > 48 or not rule.actions:
        raise ValueError(f"Alert rule {code!r} needs a short code and the actions it reads.")
    _rules[code] = rule
    return rule


def all_rules() -> list[AlertRule]:
    return sorted(_rules.values(), key=lambda rule: rule.code)


def rule_named(code: str) -> AlertRule | None:
    return _rules.get(code)


def rule_label(code: str) -> str:
    rule = _rules.get(code)
    return str(rule.label) if rule is not None else code


def rule_choices() -> list[tuple[str, str]]:
    return [(rule.code, str(rule.label)) for rule in all_rules()]


# --- checkers registered by later apps -------------------------------------------------------


@dataclass(frozen=True)
class RevealFact:
    """One reveal event, as a checker sees it: ids and a time, nothing else."""

    event_id: int
    user_id: int
    object_type: str
    object_ids: tuple[str, ...]
    occurred_at: datetime


RevealChecker = Callable[[Tenant, Sequence[RevealFact]], set[int]]
_assignment_checkers: list[RevealChecker] = []
_shift_checkers: list[RevealChecker] = []


def _add(checkers: list[RevealChecker], check: RevealChecker) -> None:
    if check not in checkers:
        checkers.append(check)


def register_assignment_checker(check: RevealChecker) -> None:
    """``check(tenant, reveals) -> offending event ids``: reveals of an object the revealer
    was not assigned to, or that their role does not handle at its state then."""
    _add(_assignment_checkers, check)


def register_shift_checker(check: RevealChecker) -> None:
    """``check(tenant, reveals) -> offending event ids``: reveals outside the revealer's
    shift (riders)."""
    _add(_shift_checkers, check)


def user_id_of(actor: str) -> int | None:
    kind, _sep, rest = actor.partition(":")
    if kind == "user" and rest.isdigit() and len(rest) < 19:
        return int(rest)
    return None


def token_id_of(actor: str) -> int | None:
    kind, _sep, rest = actor.partition(":")
    if kind == "token" and rest.isdigit() and len(rest) < 19:
        return int(rest)
    return None


def reveal_facts(events: Iterable[AuditEvent]) -> list[RevealFact]:
    """The users' reveal events as ``RevealFact``s (a batch names its objects)."""
    facts = []
    for event in events:
        user_id = user_id_of(event.actor)
        if user_id is None or event.action not in REVEAL_ACTIONS:
            continue
        if event.object_id:
            ids: tuple[str, ...] = (event.object_id,)
        else:
            objects = event.details.get("objects") if isinstance(event.details, dict) else None
            ids = tuple(str(value) for value in objects or () if isinstance(value, str | int))
        facts.append(RevealFact(event.pk, user_id, event.object_type, ids, event.occurred_at))
    return facts


def _by_person(fired: Iterable[tuple[str, int]]) -> list[Firing]:
    people: dict[str, list[int]] = defaultdict(list)
    for person, event_id in fired:
        people[person].append(event_id)
    return [Firing(person, tuple(ids)) for person, ids in people.items()]


def _checked(checkers: list[RevealChecker], given: RuleInput) -> list[Firing]:
    facts = reveal_facts(given.events)
    if not facts:
        return []
    offending: set[int] = set()
    for check in checkers:
        offending |= check(given.tenant, facts)
    return _by_person(
        (f"user:{fact.user_id}", fact.event_id) for fact in facts if fact.event_id in offending
    )


# --- the window rules: counted over the person's events in a sliding window ------------------


def _weight(event: AuditEvent | Any) -> int:
    if event.action == "privacy.reveal_batch":
        count = event.details.get("count") if isinstance(event.details, dict) else None
        return count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 1
    return 1


def _window_firings(
    given: RuleInput, actions: frozenset[str], threshold: int, minutes: int
) -> list[Firing]:
    """Each person whose events of ``actions`` (weighted: a batch reveal counts its records)
    reach ``threshold`` within ``minutes``, ending at one of the new events: the events of
    every such window. Reads, per person, the events of the window before their new ones
    (indexed by tenant and action, bounded by the window)."""
    window = timedelta(minutes=minutes)
    new_by_person: dict[str, list[AuditEvent]] = defaultdict(list)
    for event in given.events:
        if user_id_of(event.actor) is not None:
            new_by_person[event.actor].append(event)
    firings = []
    for person, new in new_by_person.items():
        earliest = min(e.occurred_at for e in new) - window
        latest = max(e.occurred_at for e in new)
        rows = list(
            AuditEvent.objects.filter(
                tenant=given.tenant,
                action__in=sorted(actions),
                actor=person,
                occurred_at__gte=earliest,
                occurred_at__lte=latest,
            )
            .order_by("occurred_at", "sequence")
            .only("pk", "action", "details", "occurred_at", "sequence")
        )
        fired: dict[int, None] = {}
        new_ids = {e.pk for e in new}
        start, total = 0, 0
        for end, row in enumerate(rows):
            total += _weight(row)
            while rows[start].occurred_at <= row.occurred_at - window:
                total -= _weight(rows[start])
                start += 1
            if row.pk in new_ids and total >= threshold:
                fired.update(dict.fromkeys(r.pk for r in rows[start : end + 1]))
        if fired:
            firings.append(Firing(person, tuple(fired)))
    return firings


def _reveal_burst(given: RuleInput) -> list[Firing]:
    s = given.settings
    return _window_firings(given, REVEAL_ACTIONS, s.reveal_burst_count, s.reveal_burst_minutes)


def _denied_access(given: RuleInput) -> list[Firing]:
    s = given.settings
    return _window_firings(given, DENIED_ACTIONS, s.denied_count, s.denied_minutes)


def _outside_hours(given: RuleInput) -> list[Firing]:
    return _by_person(
        (event.actor, event.pk)
        for event in given.events
        if user_id_of(event.actor) is not None
        and outside_working_hours(given.tenant, given.settings, event.occurred_at)
    )


def _unassigned(given: RuleInput) -> list[Firing]:
    return _checked(_assignment_checkers, given)


def _outside_shift(given: RuleInput) -> list[Firing]:
    return _checked(_shift_checkers, given)


def _each_event(given: RuleInput) -> list[Firing]:
    """One firing per person of the events themselves (the event is the signal)."""
    return _by_person((event.actor, event.pk) for event in given.events)


def register_builtin_rules() -> None:
    """audits' own rules (from its ``AppConfig.ready()``)."""
    register_rule(
        REVEAL_BURST,
        label=_("Many reveals by one person"),
        actions=REVEAL_ACTIONS,
        evaluate=_reveal_burst,
    )
    register_rule(
        REVEAL_UNASSIGNED,
        label=_("Reveals outside an assignment"),
        actions=REVEAL_ACTIONS,
        evaluate=_unassigned,
    )
    register_rule(
        REVEAL_OUTSIDE_HOURS,
        label=_("Reveals outside working hours"),
        actions=REVEAL_ACTIONS,
        evaluate=_outside_hours,
    )
    register_rule(
        REVEAL_OUTSIDE_SHIFT,
        label=_("Reveals outside the rider's shift"),
        actions=REVEAL_ACTIONS,
        evaluate=_outside_shift,
    )
    register_rule(
        DENIED_ACCESS,
        label=_("Repeated refused reveals or not-found probes"),
        actions=DENIED_ACTIONS,
        evaluate=_denied_access,
    )
    register_rule(
        TOKEN_NEW_NETWORK,
        label=_("Integration token used from a new network"),
        actions={"alerts.token_new_network"},
        evaluate=_each_event,
    )
    register_rule(
        BULK_PAGING,
        label=_("Bulk list paging"),
        actions={"alerts.bulk_paging"},
        evaluate=_each_event,
    )
