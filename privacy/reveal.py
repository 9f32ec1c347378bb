"""Reveal: the only way personal fields leave the vault in clear, for a purpose, recorded.

``reveal`` and the phone search (``privacy.subjects.find_subjects_by_phone``) run in a
durable transaction of their own on the audit log's database: their event — success,
refusal or failure — is committed before they return or raise, so no caller can roll it
back. Called inside a caller's transaction they refuse before decrypting anything
(docs/privacy.md, "Reveal").
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connections, models, router, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.models import AuditEvent
from audits.services import (
    Event,
    chained_append_sql,
    ensure_chain_head,
    record_event,
    record_events,
)
from privacy.errors import (
    DecryptionIntegrityError,
    KeyRetiredError,
    RevealDenied,
    RevealSuspended,
    RevealUntrained,
    SubjectErasedError,
)
from privacy.keys import SubjectCipher, subject_cipher, subject_ciphers
from privacy.permissions import (
    COPY_RULES,
    REVEAL_RULES,
    SYSTEM_RULE,
    Purpose,
    RevealRule,
    at_stage,
    rules_allowing,
)
from privacy.registry import SealedModel, sealed_model
from tenants.actors import Actor, SystemActor
from tenants.bulk import hot_cursor, select_statement
from tenants.models import Role, SuspensionScope, Tenant, User, UserSuspension
from tenants.roles import roles_of
from tenants.scoping import tenant_scope
from tenants.suspensions import active_suspensions, suspended_message
from training.gates import (
    Gate,
    forget_kept,
    generation_condition,
    kept_reveal_gate,
    reveal_gate,
)

logger = logging.getLogger(__name__)

NESTED_MESSAGE = (
    "{what}() must run outside any transaction: its audit event would roll back with the "
    "caller's (docs/privacy.md, \"Reveal\"). Call it before or after the caller's "
    "transaction.atomic() block."
)


@contextmanager
def own_transaction(what: str) -> Iterator[None]:
    """A durable transaction on the audit log's database, for a use case whose audit event
    must commit whatever its caller does next (reveal, the phone search). Inside a caller's
    transaction it raises RuntimeError naming ``what`` before the body runs."""
    stack = ExitStack()
    try:
        stack.enter_context(transaction.atomic(using=router.db_for_write(AuditEvent), durable=True))
    except RuntimeError as error:
        raise RuntimeError(NESTED_MESSAGE.format(what=what)) from error
    with stack:
        yield


def may_use(actor: Actor, fields: Iterable[str], purpose: str) -> bool:
    """Role-level check (object permissions are checked by reveal)."""
    if isinstance(actor, SystemActor):
        return set(fields) <= SYSTEM_RULE.fields and purpose in SYSTEM_RULE.purposes
    roles = roles_of(actor)
    return all(rules_allowing(roles, field, purpose, staged=False) for field in fields)


def reveal_choices(actor: Actor) -> tuple[frozenset[str], list[str]]:
    """The fields and purposes ``actor``'s roles may reveal at any stage of a record without
    an object permission: what a back-office reveal form offers them (the reveal itself still
    checks the record). Purposes in ``Purpose``'s order."""
    if not isinstance(actor, User) or not actor.is_active:
        return frozenset(), []
    roles = roles_of(actor)
    rules = [
        rule
        for role, rule in REVEAL_RULES.items()
        if role in roles and rule.stages is None and not rule.object_permission
    ]
    purposes = {purpose for rule in rules for purpose in rule.purposes}
    return (
        frozenset(field for rule in rules for field in rule.fields),
        [purpose for purpose in Purpose.values if purpose in purposes],
    )


_PURPOSES = frozenset(Purpose.values)  # Purpose.values builds a new list on every call


def check_purpose(purpose: str) -> None:
    if purpose not in _PURPOSES:
        raise ValidationError({"purpose": _("Unknown purpose %(purpose)r.") % {"purpose": purpose}})


def _record_failure(
    tenant: Tenant,
    actor: Actor,
    record: models.Model,
    fields: Iterable[str],
    purpose: str,
    error: Exception,
) -> None:
    details: dict[str, Any] = {"error": type(error).__name__}
    if isinstance(error, DecryptionIntegrityError):
        details["layer"] = error.layer
    action = (
        "privacy.integrity_failure"
        if isinstance(error, DecryptionIntegrityError)
        else "privacy.reveal_failed"
    )
    logger.error("%s on %s %s (tenant %s)", action, record._meta.label_lower, record.pk, tenant.pk)
    record_event(
        tenant=tenant,
        actor=actor,
        action=action,
        target=record,
        fields=fields,
        purpose=purpose,
        details=details,
    )


def _reveal_refusal(
    actor: Actor,
    record: models.Model,
    spec: SealedModel,
    fields: list[str],
    purpose: str,
    *,
    table: dict[str, RevealRule] = REVEAL_RULES,
) -> RevealDenied | None:
    """Why ``actor`` may not reveal ``fields`` of ``record`` for ``purpose`` now, or None
    (``_reveal_decision`` without the training gate's warnings)."""
    return _reveal_decision(actor, record, spec, fields, purpose, table=table)[0]


def _reveal_decision(
    actor: Actor,
    record: models.Model,
    spec: SealedModel,
    fields: list[str],
    purpose: str,
    *,
    table: dict[str, RevealRule] = REVEAL_RULES,
) -> tuple[RevealDenied | None, Gate | None]:
    """The one decision behind every reveal: privacy.permissions' table (``table``), then
    the actor's suspensions (``_suspension_refusal``: one query, only when the rules allow),
    then the training gate (``training.gates.reveal_gate``: customer service and privacy
    officers need a current pass and the signed pledge; a few queries, only for them).
    Returns the refusal, or None, and the training gate when it was asked (its warnings
    under the grace period go into the reveal's event)."""
    refusal = _rule_refusal(actor, record, spec, fields, purpose, table=table)
    if refusal is not None:
        return refusal, None
    return actor_refusal(actor)


def actor_refusal(actor: Actor) -> tuple[RevealDenied | None, Gate | None]:
    """What refuses ``actor`` whatever the record: their suspensions, then the training
    gate (a user only; system actors have neither). Also for the phone search
    (privacy.subjects), which reveals whose a phone is."""
    if not isinstance(actor, User):
        return None, None
    refusal = _suspension_refusal(actor)
    if refusal is not None:
        return refusal, None
    gate = reveal_gate(actor)
    if not gate.open:
        return untrained(gate), gate
    return None, gate


def untrained(gate: Gate) -> RevealUntrained:
    """The refusal of a closed training gate: why, and where to go to meet it."""
    return RevealUntrained(gate.refusal_message(what=_("reveal personal data")), gate_url=gate.url)


def gate_details(gate: Gate | None) -> dict[str, Any]:
    return gate.audit_details() if gate is not None else {}


def _suspension_refusal(actor: User) -> RevealSuspended | None:
    """A user suspended from reveal (any role), or a rider suspended from dispatch (an
    incident's containment: a suspended rider sees no customer data, whatever else they
    may be), is refused, with the scope and until when. One query on the suspensions'
    (tenant, scope, user) index, per reveal call (``reveal_many``: per batch)."""
    scopes = _suspension_scopes(actor)
    if not scopes:  # no tenant: no suspension (and no tenant's data)
        return None
    with tenant_scope(actor.tenant_id):
        held = active_suspensions([actor.pk], scopes).get(actor.pk)
        if held is None:
            return None
        return RevealSuspended(suspended_message(held), suspension_id=held.pk)


def _rule_refusal(
    actor: Actor,
    record: models.Model,
    spec: SealedModel,
    fields: list[str],
    purpose: str,
    *,
    table: dict[str, RevealRule],
) -> RevealDenied | None:
    if isinstance(actor, SystemActor):
        if not may_use(actor, fields, purpose):
            return RevealDenied(_("This system job may not reveal these fields for this purpose."))
        return None
    if not isinstance(actor, User) or not actor.is_active:
        return RevealDenied(_("Only an active user may reveal personal data."))
    roles = roles_of(actor)
    stage = spec.stage(record) if spec.stage is not None else None
    rules = {
        f: rules_allowing(roles, f, purpose, staged=stage is not None, table=table) for f in fields
    }
    denied = [f for f in fields if not rules[f]]
    if denied:
        return RevealDenied(
            _("Your roles may not reveal %(fields)s for this purpose.")
            % {"fields": ", ".join(spec.label(f) for f in denied)}
        )
    if any(all(r.object_permission for r in rules[f]) for f in fields):
        assigned = spec.object_permission is not None and actor.has_perm(
            spec.object_permission, record
        )
        if not assigned:
            rules = {f: [r for r in rules[f] if not r.object_permission] for f in fields}
            if not all(rules.values()):
                return RevealDenied(_("You are not assigned to this record."))
    early = [f for f in fields if not any(at_stage(r, stage) for r in rules[f])]
    if early:
        allowed = {s for f in early for r in rules[f] for s in r.stages or ()}
        labels = spec.stage_labels
        return RevealDenied(
            _(
                "Not at this stage: the %(record)s is “%(stage)s”; %(fields)s may be "
                "revealed for this purpose only at: %(stages)s."
            )
            % {
                "record": record._meta.verbose_name,
                "stage": labels.get(str(stage), stage),
                "fields": ", ".join(spec.label(f) for f in early),
                "stages": ", ".join(
                    str(labels.get(s, s)) for s in sorted(allowed, key=_stage_order(labels))
                ),
            }
        )
    return None


def refusal_details(refusal: Exception, gate: Gate | None = None) -> dict[str, Any]:
    """What a refusal's event adds: the suspension that refused, by id; the training the
    gate found missing or expired, by code."""
    if isinstance(refusal, RevealSuspended):
        return {"suspension": refusal.suspension_id}
    if isinstance(refusal, RevealUntrained):
        return gate_details(gate)
    return {}


def _stage_order(labels: Mapping[str, Any]) -> Callable[[str], int]:
    order = {s: i for i, s in enumerate(labels)}
    return lambda s: order.get(s, len(order))


def may_reveal(record: models.Model, *, fields: Iterable[str], actor: Actor, purpose: str) -> bool:
    """Whether ``reveal`` would let ``actor`` see ``fields`` of ``record`` now, without
    revealing or recording anything: for pages that show a value only when it may be shown
    (the rider's address from the pickup on). The same decision as ``reveal``."""
    spec = sealed_model(type(record))
    return _reveal_refusal(actor, record, spec, sorted(set(fields)), purpose) is None


def reveal(
    record: models.Model, *, fields: Iterable[str], actor: Actor, purpose: str
) -> dict[str, str]:
    """Decrypt the named fields of ``record`` for ``actor``, for ``purpose``, and record it.

    Call it outside any transaction (RuntimeError otherwise, before anything is
    decrypted): its event is committed before it returns or raises, so what the caller
    does next cannot roll it back.

    Raises ``RevealDenied`` (recorded), ``DecryptionIntegrityError`` (recorded; never returns
    garbage), ``SubjectErasedError``/``KeyRetiredError`` (recorded), or the record's
    ``DoesNotExist`` when the actor belongs to another tenant.

    On PostgreSQL an allowed reveal makes one statement on the key store (the subject's
    wrapped key) and one on the main database, in autocommit: it checks the actor's
    suspensions and appends the ``privacy.reveal`` event, chained by the database, and
    commits — the values are returned only once it has (``_reveal_in_one_statement``;
    docs/privacy.md, "Reveal"). Refusals and failures, and other databases, take the
    durable transaction of ``own_transaction``.
    """
    spec = sealed_model(type(record))
    wanted = sorted(set(fields))
    unknown = [f for f in wanted if f not in spec.fields]
    if not wanted or unknown:
        raise ValidationError(
            {"fields": _("Choose among: %(allowed)s.") % {"allowed": ", ".join(spec.fields)}}
        )
    check_purpose(purpose)
    tenant_id = record.tenant_id  # type: ignore[attr-defined]
    if isinstance(actor, User) and actor.tenant_id != tenant_id:
        # Another tenant's record looks like no record at all.
        raise type(record).DoesNotExist()  # type: ignore[attr-defined]
    alias = router.db_for_write(AuditEvent)
    if connections[alias].vendor == "postgresql":
        return _reveal_in_one_statement(record, spec, wanted, actor, purpose, alias)
    failure: Exception | None = None
    values: dict[str, str] = {}
    with own_transaction("reveal"):
        tenant = _tenant_of(actor, record)
        failure, gate = _reveal_decision(actor, record, spec, wanted, purpose)
        if failure is not None:
            _record_refusal(tenant, actor, record, wanted, purpose, failure, gate)
        else:
            values, failure = _open(
                tenant, actor, record, spec, wanted, purpose, details=gate_details(gate)
            )
    # Raised once the event is committed: the refusal or failure stays on record.
    if failure is not None:
        raise failure
    return values


def _tenant_of(actor: Actor, record: models.Model) -> Tenant:
    """The record's tenant: the actor's own (already loaded with the user) when they
    share it, else read with the record."""
    if isinstance(actor, User) and actor.tenant_id == record.tenant_id:  # type: ignore[attr-defined]
        return actor.tenant  # type: ignore[return-value]
    return record.tenant  # type: ignore[attr-defined]


def _record_refusal(
    tenant: Tenant,
    actor: Actor,
    record: models.Model,
    wanted: list[str],
    purpose: str,
    refusal: Exception,
    gate: Gate | None,
) -> None:
    record_event(
        tenant=tenant,
        actor=actor,
        action="privacy.reveal_denied",
        target=record,
        fields=wanted,
        purpose=purpose,
        details=refusal_details(refusal, gate),
    )


def refuse_inside_transaction(alias: str, what: str) -> None:
    """``own_transaction``'s rule for a use case that commits its event by itself (one
    statement in autocommit): inside a caller's transaction, RuntimeError naming
    ``what``. A test case's own transaction (Django's TestCase) does not count, as it
    does not for ``atomic(durable=True)``."""
    connection = connections[alias]
    blocks = connection.atomic_blocks
    if blocks:
        inside = not getattr(blocks[-1], "_from_testcase", False)
    else:
        inside = not connection.get_autocommit()
    if inside:
        raise RuntimeError(NESTED_MESSAGE.format(what=what))


def _reveal_in_one_statement(
    record: models.Model,
    spec: SealedModel,
    wanted: list[str],
    actor: Actor,
    purpose: str,
    alias: str,
) -> dict[str, str]:
    """``reveal`` on PostgreSQL. The decision is taken in the same order as
    ``_reveal_decision``'s — the rules, the suspensions, the training gate — with the
    suspensions read by the statement that records the reveal:

    1. the rules (privacy.permissions; guardian's object permission for a rider) and the
       training gate (no query when this process keeps a recent open decision: the
       statement of step 3 confirms its generation, ``training.gates.kept_reveal_gate``);
    2. the subject's key from the key store (one indexed read), unwrapped, and the fields
       opened in this frame;
    3. one statement in autocommit: unless the actor holds a suspension in force, or the
       kept gate decision's generation is no longer the tenant's, append the
       ``privacy.reveal`` event (the database chains it: ``chained_append_sql``); it
       commits before ``execute`` returns, and only then are the values returned. A stale
       decision is forgotten and the gate asked again before another try.

    A suspended actor's values are dropped unseen and the refusal is recorded, as it is
    when the rules or the gate refuse, or a key or a ciphertext fails (each in a durable
    transaction of its own; a suspension still refuses first)."""
    refuse_inside_transaction(alias, "reveal")
    tenant = _tenant_of(actor, record)
    refusal = _rule_refusal(actor, record, spec, wanted, purpose, table=REVEAL_RULES)
    gate: Gate | None = None
    generation: int | None = None  # a kept gate decision's, confirmed by the statement
    if refusal is None and isinstance(actor, User):
        gate, generation = kept_reveal_gate(actor)
        if not gate.open:
            refusal = _suspension_refusal(actor) or untrained(gate)
    if refusal is not None:
        with own_transaction("reveal"):
            _record_refusal(tenant, actor, record, wanted, purpose, refusal, gate)
        raise refusal
    subject_id = spec.subject_id(record)
    try:
        values = _open_fields(tenant, spec, record, wanted)
    except (DecryptionIntegrityError, SubjectErasedError, KeyRetiredError) as error:
        with own_transaction("reveal"):
            refusal = _suspension_refusal(actor) if isinstance(actor, User) else None
            if refusal is not None:
                _record_refusal(tenant, actor, record, wanted, purpose, refusal, gate)
            else:
                _record_failure(tenant, actor, record, wanted, purpose, error)
        raise (refusal or error) from None

    def reveal_event() -> Event:
        return Event(
            action="privacy.reveal",
            target=record,
            fields=wanted,
            purpose=purpose,
            details={"subject": str(subject_id), **gate_details(gate)},
        )

    event = reveal_event()
    for _attempt in range(3):
        outcome = _append_unless_suspended(tenant, actor, event, alias, generation)
        if outcome == _APPENDED:
            return values
        if outcome == _NO_CHAIN_HEAD:
            ensure_chain_head(tenant)
            continue
        if outcome == _STALE_GATE and isinstance(actor, User):
            # A course, a version or a pledge changed since the kept decision: ask again.
            forget_kept(actor)
            gate, generation = reveal_gate(actor), None
            if not gate.open:
                refusal = untrained(gate)
                with own_transaction("reveal"):
                    _record_refusal(tenant, actor, record, wanted, purpose, refusal, gate)
                raise refusal
            event = reveal_event()  # with the gate's warnings, if any now
            continue
        # Suspended: which suspension, for the refusal (lifted meanwhile: try again).
        refusal = _suspension_refusal(actor) if isinstance(actor, User) else None
        if refusal is not None:
            with own_transaction("reveal"):
                _record_refusal(tenant, actor, record, wanted, purpose, refusal, gate)
            raise refusal
    # Still not appended (a suspension coming and going under us): the durable
    # transaction decides, as on other databases.
    with own_transaction("reveal"):
        refusal = _suspension_refusal(actor) if isinstance(actor, User) else None
        if refusal is not None:
            _record_refusal(tenant, actor, record, wanted, purpose, refusal, gate)
        else:
            record_events(tenant=tenant, actor=actor, events=[event])
    if refusal is not None:
        raise refusal
    return values


_APPENDED, _SUSPENDED, _NO_CHAIN_HEAD = "appended", "suspended", "no chain head"
_STALE_GATE = "stale gate"


def _append_unless_suspended(
    tenant: Tenant, actor: Actor, event: Event, alias: str, generation: int | None = None
) -> str:
    """One statement, committed on its own (autocommit; inside a test case's transaction
    it joins it): ``_append_statement``. The outcome: appended, suspended, stale gate, or
    no chain head yet (nothing written)."""
    statement, params = _append_statement(tenant, actor, event, alias, generation)
    with tenant_scope(tenant), hot_cursor(connections[alias]) as cursor:
        cursor.execute(statement, params)
        return _outcome(cursor.fetchone())


def _append_statement(
    tenant: Tenant, actor: Actor, event: Event, alias: str, generation: int | None
) -> tuple[str, list[Any]]:
    """The statement that appends ``event`` to the tenant's chain unless ``actor`` (a
    user) holds a suspension in force that refuses reveals (``_suspension_scopes``), or,
    with ``generation`` (a kept training-gate decision's), unless the tenant's gate
    generation has moved on; it answers one row for ``_outcome``."""
    scopes = _suspension_scopes(actor)
    append = chained_append_sql(tenant, actor, [event], when="reveal_go")
    if generation is None:
        current, current_params = "SELECT 1", []
    else:
        current = f"SELECT 1 WHERE {generation_condition(alias)}"
        current_params = [tenant.pk, generation]
    with tenant_scope(tenant):
        if scopes and isinstance(actor, User):
            now = timezone.now()
            held, params = select_statement(
                UserSuspension,
                ["id"],
                limit=1,
                where=(_active_suspension_sql(alias), [now, now]),
                user=actor.pk,
                scope=scopes,
            )
            # Only the helpers' statements from model metadata; every value a parameter.
            held_cte = f"reveal_held AS ({held}), "  # noqa: S608
        else:
            held_cte, params = "reveal_held AS (SELECT 1 WHERE false), ", []
    statement = (
        f"WITH {held_cte}reveal_current AS ({current}), "  # noqa: S608
        "reveal_go AS (SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM reveal_held) "
        f"AND EXISTS (SELECT 1 FROM reveal_current)){append.ctes} "
        "SELECT EXISTS (SELECT 1 FROM reveal_held), "
        f"EXISTS (SELECT 1 FROM reveal_current), EXISTS (SELECT 1 FROM {append.appended})"
    )
    return statement, [*params, *current_params, *append.params]


def _outcome(row: tuple[bool, bool, bool]) -> str:
    suspended, current_gate, appended = row
    if appended:
        return _APPENDED
    if suspended:
        return _SUSPENDED
    return _NO_CHAIN_HEAD if current_gate else _STALE_GATE


def _suspension_scopes(actor: Actor) -> list[str]:
    """The suspension scopes that refuse ``actor``'s reveals (``_suspension_refusal``):
    reveal, and for a rider dispatch too; none for a system actor or a user without a
    tenant."""
    if not isinstance(actor, User) or actor.tenant_id is None:
        return []
    scopes = [SuspensionScope.REVEAL.value]
    if Role.RIDER in roles_of(actor):
        scopes.append(SuspensionScope.DISPATCH.value)
    return scopes


@functools.lru_cache(maxsize=4)
def _active_suspension_sql(alias: str) -> str:
    """``tenants.suspensions``' "in force at %s" as SQL (the time given twice)."""
    meta, quote = UserSuspension._meta, connections[alias].ops.quote_name
    lifted, starts, ends = (
        quote(str(meta.get_field(name).column))  # type: ignore[union-attr]
        for name in ("lifted_at", "starts_at", "ends_at")
    )
    return f"{lifted} IS NULL AND {starts} <= %s AND ({ends} IS NULL OR {ends} > %s)"


def _open_fields(
    tenant: Tenant, spec: SealedModel, record: models.Model, wanted: Iterable[str]
) -> dict[str, str]:
    """``wanted`` fields of ``record`` in clear, opened with its subject's key (raises
    what the vault raises: erased, retired key, failed integrity)."""
    cipher = subject_cipher(tenant, spec.subject_id(record))
    table = type(record)._meta.db_table
    return {f: cipher.open(table, f, record.pk, getattr(record, spec.column(f))) for f in wanted}


def _open(
    tenant: Tenant,
    actor: Actor,
    record: models.Model,
    spec: SealedModel,
    wanted: list[str],
    purpose: str,
    *,
    details: Mapping[str, Any] | None = None,
) -> tuple[dict[str, str], Exception | None]:
    """The clear values and the ``privacy.reveal`` event (with ``details``: the training
    gate's warnings), or the recorded failure."""
    subject_id = spec.subject_id(record)
    try:
        values = _open_fields(tenant, spec, record, wanted)
    except (DecryptionIntegrityError, SubjectErasedError, KeyRetiredError) as error:
        _record_failure(tenant, actor, record, wanted, purpose, error)
        return {}, error
    record_event(
        tenant=tenant,
        actor=actor,
        action="privacy.reveal",
        target=record,
        fields=wanted,
        purpose=purpose,
        details={"subject": str(subject_id), **(details or {})},
    )
    return values, None


@dataclass(frozen=True)
class RevealResult:
    """One record's outcome in ``reveal_many``: its clear ``values``, or ``failure`` — the
    kind of refusal or failure ("denied", "erased", "key_retired", "integrity")."""

    values: dict[str, str] = dataclasses.field(default_factory=dict)
    failure: str = ""

    @property
    def ok(self) -> bool:
        return not self.failure


_FAILURE_KINDS: dict[type[Exception], str] = {
    SubjectErasedError: "erased",
    KeyRetiredError: "key_retired",
    DecryptionIntegrityError: "integrity",
}


def reveal_many(
    records: Sequence[models.Model], *, fields: Iterable[str], actor: Actor, purpose: str
) -> dict[Any, RevealResult]:
    """Reveal the same ``fields`` of several records of one tenant and one sealed model (a
    station page's list) for ``actor`` and ``purpose``, recorded as ONE
    ``privacy.reveal_batch`` event naming the records' ids and their count.

    Each record is checked like ``reveal`` checks it; a refused or unreadable record is not
    an error for the others: its result names the kind of failure. Refusals are recorded
    together in one ``privacy.reveal_batch_denied`` event, erased subjects and retired keys
    in one ``privacy.reveal_batch_failed`` event; an integrity failure is recorded on its
    own (``privacy.integrity_failure``: a tampered row deserves its own line). The keys are
    read in one query. Runs in its own durable transaction, like ``reveal``
    (RuntimeError inside a caller's transaction, before anything is decrypted).
    Returns ``{record.pk: RevealResult}``.
    """
    if not records:
        return {}
    model = type(records[0])
    spec = sealed_model(model)
    wanted = sorted(set(fields))
    unknown = [f for f in wanted if f not in spec.fields]
    if not wanted or unknown:
        raise ValidationError(
            {"fields": _("Choose among: %(allowed)s.") % {"allowed": ", ".join(spec.fields)}}
        )
    check_purpose(purpose)
    tenant_id = records[0].tenant_id  # type: ignore[attr-defined]
    if any(type(r) is not model or r.tenant_id != tenant_id for r in records):  # type: ignore[attr-defined]
        raise ValueError("reveal_many() takes records of one model and one tenant")
    if isinstance(actor, User) and actor.tenant_id != tenant_id:
        raise model.DoesNotExist()  # type: ignore[attr-defined]
    results: dict[Any, RevealResult] = {}
    with own_transaction("reveal_many"):
        tenant = _tenant_of(actor, records[0])
        allowed = []
        for record in records:
            if _rule_refusal(actor, record, spec, wanted, purpose, table=REVEAL_RULES):
                results[record.pk] = RevealResult(failure="denied")
            else:
                allowed.append(record)
        # The actor's suspensions and training gate: once for the whole batch.
        gate = None
        if allowed and isinstance(actor, User):
            if _suspension_refusal(actor) is not None:
                allowed = _refuse_all(results, allowed)
            else:
                gate = reveal_gate(actor)
                if not gate.open:
                    allowed = _refuse_all(results, allowed)
        ciphers = _ciphers(tenant, [spec.subject_id(r) for r in allowed])
        table = model._meta.db_table
        for record in allowed:
            cipher = ciphers.get(spec.subject_id(record))
            try:
                if cipher is None:
                    raise SubjectErasedError(f"subject {spec.subject_id(record)} has no key")
                if isinstance(cipher, Exception):
                    raise cipher
                results[record.pk] = RevealResult(
                    values={
                        f: cipher.open(table, f, record.pk, getattr(record, spec.column(f)))
                        for f in wanted
                    }
                )
            except (DecryptionIntegrityError, SubjectErasedError, KeyRetiredError) as error:
                results[record.pk] = RevealResult(failure=_FAILURE_KINDS[type(error)])
                if isinstance(error, DecryptionIntegrityError):
                    _record_failure(tenant, actor, record, wanted, purpose, error)
        _record_batch(tenant, actor, model, results, wanted, purpose, gate_details(gate))
    return results


def _refuse_all(
    results: dict[Any, RevealResult], records: list[models.Model]
) -> list[models.Model]:
    results.update({record.pk: RevealResult(failure="denied") for record in records})
    return []


def _ciphers(tenant: Tenant, subject_ids: list[Any]) -> dict[Any, SubjectCipher | Exception]:
    """The subjects' opened keys in one query; a key that fails to open is its error (the
    other subjects' keys still open), an erased subject is missing. None asked (every
    record refused): no query."""
    if not subject_ids:
        return {}
    try:
        return dict(subject_ciphers(tenant, list(dict.fromkeys(subject_ids))))
    except (DecryptionIntegrityError, KeyRetiredError):
        # One bad key row: open them one by one so that only its records fail.
        out: dict[Any, SubjectCipher | Exception] = {}
        for subject_id in dict.fromkeys(subject_ids):
            try:
                out[subject_id] = subject_cipher(tenant, subject_id)
            except SubjectErasedError:
                continue
            except (DecryptionIntegrityError, KeyRetiredError) as error:
                out[subject_id] = error
        return out


def _record_batch(
    tenant: Tenant,
    actor: Actor,
    model: type[models.Model],
    results: Mapping[Any, RevealResult],
    fields: list[str],
    purpose: str,
    gate_details: Mapping[str, Any] | None = None,
) -> None:
    """The batch's events: one for the revealed records, one for the refused, one for the
    erased or unreadable (integrity failures were recorded on their own). The training
    gate's decision (``gate_details``) goes with the revealed or refused records."""
    groups: dict[str, list[str]] = {"ok": [], "denied": [], "failed": []}
    for pk, result in results.items():
        if result.ok:
            groups["ok"].append(str(pk))
        elif result.failure == "denied":
            groups["denied"].append(str(pk))
        elif result.failure != "integrity":
            groups["failed"].append(str(pk))
    actions = {
        "ok": "privacy.reveal_batch",
        "denied": "privacy.reveal_batch_denied",
        "failed": "privacy.reveal_batch_failed",
    }
    events = [
        Event(
            action=actions[group],
            object_type=model._meta.label_lower,
            fields=fields,
            purpose=purpose,
            details={
                "objects": ids,
                "count": len(ids),
                **((gate_details or {}) if group in ("ok", "denied") else {}),
            },
        )
        for group, ids in groups.items()
        if ids
    ]
    if groups["failed"]:
        logger.warning(
            "privacy.reveal_batch_failed on %s %s (tenant %s)",
            model._meta.label_lower,
            ",".join(groups["failed"]),
            tenant.pk,
        )
    record_events(tenant=tenant, actor=actor, events=events)


def seal(record: models.Model, field: str, value: str) -> bytes:
    """The ciphertext of ``value`` for ``field`` of ``record`` (a registered sealed model
    whose primary key is set), under its subject's key: for a later layer that stores a
    sealed field itself (the rider's note on a held package). The clear text never leaves
    this frame; the caller saves the bytes in the field's column."""
    spec = sealed_model(type(record))
    if field not in spec.fields:
        raise ValueError(f"{type(record).__name__}.{field} is not a sealed field")
    cipher = subject_cipher(record.tenant, spec.subject_id(record))  # type: ignore[attr-defined]
    return cipher.seal(type(record)._meta.db_table, field, record.pk, value)


def correct(
    record: models.Model,
    *,
    values: Mapping[str, str],
    actor: Actor,
    purpose: str,
    also_update: Sequence[str] = (),
) -> list[str]:
    """Replace sealed fields of ``record`` with corrected clear ``values`` (already
    cleaned by the caller), sealed under its subject's key, and save them with the
    ``also_update`` columns the caller set (the display masks). Whoever may reveal a field
    for ``purpose`` may correct it (privacy.permissions' table); a refusal is
    ``RevealDenied``, an erased subject ``SubjectErasedError``. Runs in the caller's
    transaction (with ``record`` locked), so the correction and its ``privacy.corrected``
    event — the field names, never a value — commit together: if the caller rolls the
    correction back, nothing was changed and no value left the vault, so there is nothing
    to record (unlike a reveal, whose event is durable). A corrected phone of a record that
    names its customer (an order) moves it to the customer with that phone, found or
    created like intake does (``privacy.subjects.move_to_phone_subject``: every sealed field
    sealed again under that customer's key; the event names the old subject as
    ``moved_from``), so the phone search and erasure by the new phone find it. Returns the
    fields."""
    spec = sealed_model(type(record))
    wanted = sorted(values)
    if not wanted or any(f not in spec.fields for f in wanted):
        raise ValidationError(
            {"fields": _("Choose among: %(allowed)s.") % {"allowed": ", ".join(spec.fields)}}
        )
    check_purpose(purpose)
    if isinstance(actor, User) and actor.tenant_id != record.tenant_id:  # type: ignore[attr-defined]
        raise type(record).DoesNotExist()  # type: ignore[attr-defined]
    refusal = _reveal_refusal(actor, record, spec, wanted, purpose)
    if refusal is not None:
        raise refusal
    from privacy.subjects import follows_phone, move_to_phone_subject  # builds on this module

    tenant = record.tenant  # type: ignore[attr-defined]
    details: dict[str, Any] = {}
    columns = [spec.column(f) for f in wanted]
    moved = None
    if "phone" in values and follows_phone(spec):
        moved = move_to_phone_subject(
            tenant=tenant, actor=actor, record=record, spec=spec, values=dict(values)
        )
    if moved is not None:
        # Every sealed field was sealed again under the new phone's customer's key.
        columns = [spec.column(f) for f in spec.fields] + ["subject"]
        details["moved_from"] = str(moved[1])
    else:
        cipher = subject_cipher(tenant, spec.subject_id(record))
        table = type(record)._meta.db_table
        for field in wanted:
            setattr(record, spec.column(field), cipher.seal(table, field, record.pk, values[field]))
    record.save(update_fields=[*columns, *also_update])
    record_event(
        tenant=tenant,
        actor=actor,
        action="privacy.corrected",
        target=record,
        fields=wanted,
        purpose=purpose,
        details={"subject": str(spec.subject_id(record)), **details},
    )
    return wanted


def copy_sealed(
    source: models.Model,
    target: models.Model,
    *,
    fields: Iterable[str],
    actor: Actor,
    purpose: str = Purpose.ORDER_REMAKE,
) -> None:
    """Seal ``fields`` of ``source`` again for ``target`` (a new, unsaved record of the same
    sealed model and the same subject, its primary key set): the ciphertext is bound to its
    row, so it is opened and sealed again inside this frame, and the clear text never
    leaves it (a re-made order keeps its customer's details).

    Checked like a reveal, against ``privacy.permissions.COPY_RULES`` (``purpose``: re-making
    an order, customer service only): ``actor`` must be an active user of the source's
    tenant (another tenant's user: the record's ``DoesNotExist``), allowed by the rules and
    not suspended. Like ``reveal`` it runs in its own durable transaction — call it before
    the caller's transaction that saves ``target`` (RuntimeError inside one, before anything
    is opened) — and its event (``privacy.sealed_copied`` naming the source and the fields,
    or the refusal or failure) is committed before it returns or raises: a copy made and
    then dropped by the caller (a conflict found under its locks) stays on record.
    ``RevealDenied``, ``SubjectErasedError``, ``KeyRetiredError`` or
    ``DecryptionIntegrityError`` (all recorded)."""
    model = type(source)
    spec = sealed_model(model)
    wanted = sorted(set(fields))
    if type(target) is not model or not wanted or any(f not in spec.fields for f in wanted):
        raise ValueError("copy_sealed() takes two records of one sealed model and its fields")
    subject_id = spec.subject_id(source)
    tenant_id = source.tenant_id  # type: ignore[attr-defined]
    if spec.subject_id(target) != subject_id or target.tenant_id != tenant_id:  # type: ignore[attr-defined]
        raise ValueError("copy_sealed() copies within one subject of one tenant")
    check_purpose(purpose)
    if isinstance(actor, User) and actor.tenant_id != tenant_id:
        raise model.DoesNotExist()  # type: ignore[attr-defined]
    failure: Exception | None = None
    with own_transaction("copy_sealed"):
        tenant = _tenant_of(actor, source)
        gate: Gate | None = None
        if not isinstance(actor, User):
            failure = RevealDenied(_("Only an active user may copy personal data."))
        else:
            failure, gate = _reveal_decision(actor, source, spec, wanted, purpose, table=COPY_RULES)
        if failure is not None:
            _record_refusal(tenant, actor, source, wanted, purpose, failure, gate)
        else:
            failure = _copy(tenant, actor, source, target, spec, wanted, purpose)
    # Raised once the event is committed: the refusal or failure stays on record.
    if failure is not None:
        raise failure


def _copy(
    tenant: Tenant,
    actor: Actor,
    source: models.Model,
    target: models.Model,
    spec: SealedModel,
    wanted: list[str],
    purpose: str,
) -> Exception | None:
    subject_id = spec.subject_id(source)
    table = type(source)._meta.db_table
    try:
        cipher = subject_cipher(tenant, subject_id)
        sealed = {
            spec.column(f): cipher.seal(
                table,
                f,
                target.pk,
                cipher.open(table, f, source.pk, getattr(source, spec.column(f))),
            )
            for f in wanted
        }
    except (DecryptionIntegrityError, SubjectErasedError, KeyRetiredError) as error:
        _record_failure(tenant, actor, source, wanted, purpose, error)
        return error
    for column, blob in sealed.items():
        setattr(target, column, blob)
    record_event(
        tenant=tenant,
        actor=actor,
        action="privacy.sealed_copied",
        object_type=type(source)._meta.label_lower,
        object_id=str(target.pk),
        fields=wanted,
        purpose=purpose,
        details={"from": str(source.pk), "subject": str(subject_id)},
    )
    return None
