"""The audit-action registry: every action an app may write, declared in one place.

It lives in ``core`` (it imports no app) so that every layer declares its actions the same
way, ``tenants`` below ``audits`` included; ``audits`` appends events and shows the labels.

Each app lists its actions in ``<app>/audit_actions.py`` (``NAMESPACES``, the namespaces
it claims, and ``ACTIONS``, its ``AuditAction`` list) and registers them from its
``AppConfig.ready()`` with one line, ``register_app_actions(self)``, which calls::

    register_actions("riders", namespaces=NAMESPACES, actions=ACTIONS)

The rules, checked at start-up (``ImproperlyConfigured``):

- a code is ``<namespace>.<verb>`` (lower case, digits and underscores, at most 64 characters);
- a namespace belongs to one app: a second app claiming it is refused;
- an app registers only codes in its own namespaces, except *legacy* codes: codes that
  were written before a rename (e.g. riders' old ``order.assigned``) stay registered by the
  app that used to write them, wherever their namespace, so old rows keep their label;
- a code is registered once.

``audits.services`` refuses to append an event whose action is unregistered or legacy, or
whose ``details`` hold a key its action does not declare (``AuditActionError``): one dict
lookup per event. Reading is lenient: ``action_label`` shows the raw code of a row written
before the registry existed.

The purposes of reveals (``privacy.permissions.Purpose``) are registered here too, by the app
that owns them (``register_purposes`` from its ``ready()``), so the audit list below it shows
their labels without importing it; ``purpose_label`` shows an unknown (older) value raw.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import import_module
from typing import Any

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class AuditCategory(models.TextChoices):
    """What an action is about, for filtering the log (the back office's audit list)."""

    #: A person's data was read or looked for: reveals, searches, and their refusals.
    PERSONAL_DATA_ACCESS = "personal_data_access", _("Personal data access")
    #: A person's data came, was kept or went: customer created or matched, erasure,
    #: retention, privacy notices.
    PERSONAL_DATA_LIFECYCLE = "personal_data_lifecycle", _("Personal data lifecycle")
    #: The order's way from intake to the door: orders' and riders' steps.
    DELIVERY = "delivery", _("Delivery chain")
    #: Who may do what, and the machinery that keeps data safe: sign-in, two-factor,
    #: users, roles, API tokens, encryption keys, backup and erasure-ledger alerts.
    SECURITY = "security", _("Accounts and security")
    #: Problems reported on an order.
    INCIDENTS = "incidents", _("Incidents")
    #: Supervision of the policy (§6): dashboard views, alerts handled, inspections,
    #: violations and sanctions, evidence packs.
    SUPERVISION = "supervision", _("Supervision")
    #: Tooling outside the product (benchmarks).
    OTHER = "other", _("Other")


CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
CODE_MAX_LENGTH = 64  # AuditEvent.action


@dataclass(frozen=True)
class AuditAction:
    """One action of the audit log.

    ``label`` is short, human and translatable (English source); ``details`` names every
    key its events' ``details`` may hold; a ``legacy`` action is displayed but never
    written. ``app_label`` is set by ``register_actions``."""

    code: str
    label: str | Promise
    category: AuditCategory
    details: frozenset[str] = frozenset()
    legacy: bool = False
    app_label: str = field(default="", compare=False)

    @property
    def namespace(self) -> str:
        return self.code.partition(".")[0]


class AuditActionError(ValueError):
    """An event the registry refuses to append."""


class UnregisteredAuditAction(AuditActionError, KeyError):
    """No app registered this code (also a KeyError, for ``audit_action``'s lookups)."""

    def __str__(self) -> str:  # KeyError's would quote the message
        return str(self.args[0]) if self.args else ""


class LegacyAuditAction(AuditActionError):
    """The code is registered for display only: it was renamed, and is not written anymore."""


class UndeclaredAuditDetail(AuditActionError):
    """The event's ``details`` hold a key its action does not declare."""


_actions: dict[str, AuditAction] = {}
_writable: dict[str, AuditAction] = {}  # the hot path's lookup: registered, not legacy
_namespaces: dict[str, str] = {}  # namespace -> app label


def register_actions(
    app_label: str, *, namespaces: Iterable[str], actions: Iterable[AuditAction]
) -> None:
    """Register ``app_label``'s actions (from its ``AppConfig.ready()``). Refuses, with
    ImproperlyConfigured, a namespace another app claimed, a non-legacy code outside
    ``namespaces``, a malformed code and a code registered twice. Registering the very same
    actions again for the same app (``ready()`` run twice) changes nothing."""
    namespaces = tuple(namespaces)
    actions = list(actions)
    for namespace in namespaces:
        owner = _namespaces.get(namespace)
        if owner is not None and owner != app_label:
            raise ImproperlyConfigured(
                f"Audit namespace {namespace!r} of app {app_label!r} is already claimed by "
                f"app {owner!r}."
            )
    seen: set[str] = set()
    new: list[AuditAction] = []
    for action in actions:
        code = action.code
        if not CODE_PATTERN.match(code) or len(code) > CODE_MAX_LENGTH:
            raise ImproperlyConfigured(
                f"Audit action {code!r} of app {app_label!r} is not '<namespace>.<verb>' "
                f"(lower case, at most {CODE_MAX_LENGTH} characters)."
            )
        if action.namespace not in namespaces and not action.legacy:
            raise ImproperlyConfigured(
                f"Audit action {code!r} of app {app_label!r} is outside its namespaces "
                f"{namespaces!r} (only a legacy code may be)."
            )
        if code in seen:
            raise ImproperlyConfigured(f"Audit action {code!r} is listed twice by {app_label!r}.")
        seen.add(code)
        action = replace(action, app_label=app_label, details=frozenset(action.details))
        known = _actions.get(code)
        if known is not None:
            if known.app_label == app_label and known == action:
                continue  # the same app registering again
            raise ImproperlyConfigured(
                f"Audit action {code!r} of app {app_label!r} is already registered by "
                f"app {known.app_label!r}."
            )
        if not action.label or not isinstance(action.category, AuditCategory):
            raise ImproperlyConfigured(f"Audit action {code!r} needs a label and a category.")
        new.append(action)
    for namespace in namespaces:
        _namespaces[namespace] = app_label
    for action in new:
        _actions[action.code] = action
        if not action.legacy:
            _writable[action.code] = action


def register_app_actions(app_config: AppConfig) -> None:
    """Register the ``NAMESPACES`` and ``ACTIONS`` of ``<app>/audit_actions.py`` for
    ``app_config`` (the one line in each app's ``ready()``)."""
    module = import_module(f"{app_config.name}.audit_actions")
    register_actions(app_config.label, namespaces=module.NAMESPACES, actions=module.ACTIONS)


def unregister_app(app_label: str) -> None:
    """Forget ``app_label``'s namespaces, actions and purposes (tests that register their
    own)."""
    for value in [v for v, (owner, _label) in _purposes.items() if owner == app_label]:
        del _purposes[value]
    for code in [c for c, a in _actions.items() if a.app_label == app_label]:
        del _actions[code]
        _writable.pop(code, None)
    for namespace in [n for n, owner in _namespaces.items() if owner == app_label]:
        del _namespaces[namespace]


def audit_action(code: str) -> AuditAction:
    """The registered action ``code`` (legacy ones too); UnregisteredAuditAction (a KeyError)
    for an unknown code."""
    try:
        return _actions[code]
    except KeyError:
        raise UnregisteredAuditAction(f"Audit action {code!r} is not registered.") from None


def action_label(code: str) -> str:
    """The action's label in the active language; the raw code for an unknown one (rows
    written before the registry)."""
    action = _actions.get(code)
    return str(action.label) if action is not None else code


def actions_in(category: AuditCategory | str) -> list[AuditAction]:
    """The actions of ``category`` (legacy ones too), by code."""
    return sorted((a for a in _actions.values() if a.category == category), key=_by_code)


def all_actions() -> list[AuditAction]:
    """Every registered action (legacy ones too), by code."""
    return sorted(_actions.values(), key=_by_code)


def namespace_owner(namespace: str) -> str | None:
    """The app that claimed ``namespace``, or None."""
    return _namespaces.get(namespace)


def _by_code(action: AuditAction) -> str:
    return action.code


def writable_action(code: str, details: Mapping[str, Any] | None) -> AuditAction:
    """The action an event may be written with: refuses (AuditActionError) an unregistered
    or legacy code and a ``details`` key the action does not declare. The append's check:
    one dict lookup, and a set comparison when there are details."""
    action = _writable.get(code)
    if action is None:
        known = _actions.get(code)
        if known is not None:
            raise LegacyAuditAction(
                f"Audit action {code!r} (app {known.app_label!r}) is legacy: it is displayed, "
                "not written anymore."
            )
        owner = _namespaces.get(code.partition(".")[0])
        hint = f" (namespace of app {owner!r})" if owner else ""
        raise UnregisteredAuditAction(
            f"Audit action {code!r}{hint} is not registered: declare it in the app's "
            "audit_actions.py."
        )
    if details and not action.details.issuperset(details):
        undeclared = sorted(set(details) - action.details)
        raise UndeclaredAuditDetail(
            f"Audit action {code!r} (app {action.app_label!r}) does not declare the details "
            f"key(s) {', '.join(map(repr, undeclared))}: add them to its declaration."
        )
    return action


# --- purposes ---------------------------------------------------------------------------------

_purposes: dict[str, tuple[str, str | Promise]] = {}  # value -> (app label, label)


def register_purposes(app_label: str, choices: Iterable[tuple[str, str | Promise]]) -> None:
    """Register ``app_label``'s purposes, ``(value, label)`` pairs (a TextChoices'
    ``choices``), from its ``AppConfig.ready()``. Refuses (ImproperlyConfigured) a value
    another app registered, an empty value or label; registering again changes nothing."""
    choices = [(str(value), label) for value, label in choices]
    for value, label in choices:
        if not value or not label:
            raise ImproperlyConfigured(f"Purpose {value!r} of app {app_label!r} needs a label.")
        owner = _purposes.get(value)
        if owner is not None and owner[0] != app_label:
            raise ImproperlyConfigured(
                f"Purpose {value!r} of app {app_label!r} is already registered by app {owner[0]!r}."
            )
    for value, label in choices:
        _purposes[value] = (app_label, label)


def purpose_label(value: str) -> str:
    """The purpose's label in the active language; the raw value for an unknown one."""
    known = _purposes.get(value)
    return str(known[1]) if known is not None else value


def purpose_choices() -> list[tuple[str, str]]:
    """Every registered purpose as ``(value, label)`` in the active language, by label."""
    return sorted(((v, str(label)) for v, (_app, label) in _purposes.items()), key=_by_label)


def is_registered_purpose(value: str) -> bool:
    return value in _purposes


# --- personal-data fields named in events ------------------------------------------------------

_field_labels: dict[str, str | Promise] = {}  # field name -> label


def register_field_labels(labels: Mapping[str, str | Promise]) -> None:
    """Labels of the personal-data fields events name (``AuditEvent.fields``: "phone",
    "address"), registered by the app that owns the fields from its ``ready()``."""
    _field_labels.update(labels)


def field_label(name: str) -> str:
    """The field's label in the active language; the raw name for an unknown one."""
    known = _field_labels.get(name)
    return str(known) if known is not None else name


def _by_label(choice: tuple[str, str]) -> str:
    return choice[1]
