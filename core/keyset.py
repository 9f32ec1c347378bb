"""Keyset ("cursor") pagination: a page is found from the position of the row next to it,
never by an offset, and nothing is counted.

A list is ordered by *keys* — non-null columns, the last one unique (the primary key) —
and a page is "the first ``size`` rows after this position" in that order (or before it,
for the previous page). With an index that matches the order (the tenant, then the keys),
the first page and the ten-thousandth cost the same: the database walks the index from the
position and stops after ``size + 1`` rows. A cursor is the position's values, as text in
JSON in URL-safe base64; it names no person (a time and an id) and needs no signature: a
forged one only moves the reader to another place in what they may read anyway.

Used by the API's order list (``core.keyset_api``) and the back office's long lists
(``core.keyset_admin``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import F, Field, Model, Q, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan
from django.utils.translation import gettext as _

CURSOR_VAR = "cursor"
#: The longest cursor accepted (a time and a UUID take about 110 characters; a sorted code
#: besides them about 150). Short enough that one over it, percent-encoded, still fits in a
#: request line (gunicorn's 4094 bytes), so it is our 400, not the server's 414.
CURSOR_MAX_LENGTH = 300
#: A cursor is URL-safe base64 without padding.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"


class InvalidCursor(ValueError):
    """A cursor that cannot be read; its message names the problem for the caller."""


@dataclass(frozen=True)
class Key:
    """One column of a list's order: a concrete, non-null field's name and its direction."""

    name: str
    descending: bool

    @property
    def ordering(self) -> str:
        return f"-{self.name}" if self.descending else self.name

    def reversed(self) -> Key:
        return Key(self.name, not self.descending)


def _field(model: type[Model], name: str) -> Field | None:
    """The concrete, non-null, non-relational field ``name`` of ``model`` ("pk" is the key)."""
    if name == "pk":
        return model._meta.pk
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    if not isinstance(field, Field) or field.is_relation or field.null or not field.concrete:
        return None
    return field


def keys_of(model: type[Model], ordering: Iterable[Any], *, then: Iterable[str] = ()) -> list[Key]:
    """The keys for ``ordering`` (``"field"``/``"-field"`` strings): parts that are not a
    plain non-null column (an expression, a related or nullable field) are left out; then
    the fields of ``then`` not already there and the primary key (always last) make the
    order total, in the direction of the last key (so one index scan in one direction
    serves it)."""
    keys: list[Key] = []
    seen: set[str] = set()
    pk_name = model._meta.pk.name

    def add(part: str, descending: bool | None = None) -> None:
        name = part.lstrip("-")
        field = _field(model, name)
        if field is None:
            return
        name = field.name
        if name in seen:
            return
        seen.add(name)
        keys.append(Key(name, part.startswith("-") if descending is None else descending))

    for part in ordering:
        if isinstance(part, str) and part.lstrip("-") not in ("pk", pk_name, "?", ""):
            add(part)
    direction = keys[-1].descending if keys else True
    for part in then:
        add(part, direction if keys else part.startswith("-"))
        direction = keys[-1].descending
    add(pk_name, direction)
    return keys


def key_fields(model: type[Model], keys: Sequence[Key]) -> list[Field]:
    fields = []
    for key in keys:
        field = _field(model, key.name)
        if field is None:  # keys_of never makes one; a hand-written key may
            raise ValueError(f"{model.__name__}.{key.name} cannot be a key")
        fields.append(field)
    return fields


# --- cursors ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Position:
    """Where a page starts: after ``values`` (forwards), or before them (``backwards``)."""

    values: tuple[Any, ...]
    backwards: bool = False


def _text(value: Any) -> str:
    iso = getattr(value, "isoformat", None)
    return str(iso() if callable(iso) else value)


def encode_cursor(values: Sequence[Any], *, backwards: bool = False) -> str:
    payload = {"k": [_text(value) for value in values], "b": int(backwards)}
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(text: str, model: type[Model], keys: Sequence[Key]) -> Position:
    """The position ``text`` names, its values checked against the keys' fields; raises
    ``InvalidCursor`` naming what is wrong."""
    if len(text) > CURSOR_MAX_LENGTH:
        raise InvalidCursor(_("This cursor is too long: use the next or previous link as given."))
    try:
        if not re.match(CURSOR_PATTERN, text):
            raise ValueError(text)
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor(
            _("This cursor cannot be read: use the next or previous link as given.")
        ) from None
    values = data.get("k") if isinstance(data, dict) else None
    backwards = data.get("b", 0) if isinstance(data, dict) else None
    if (
        not isinstance(values, list)
        or len(values) != len(keys)
        or not all(isinstance(value, str) for value in values)
        or backwards not in (0, 1)
        or isinstance(backwards, bool)
    ):
        raise InvalidCursor(_("This cursor is not a position in this list."))
    parsed = []
    for field, value in zip(key_fields(model, keys), values, strict=True):
        try:
            python = field.to_python(value)
        except (ValidationError, ValueError, TypeError, OverflowError):
            python = None
        if python is None:
            raise InvalidCursor(_("This cursor is not a position in this list."))
        parsed.append(python)
    return Position(tuple(parsed), backwards=bool(backwards))


# --- pages ------------------------------------------------------------------------------------


def after(queryset: QuerySet[Any], keys: Sequence[Key], values: Sequence[Any]) -> QuerySet[Any]:
    """The rows of ``queryset`` that come after ``values`` in the order of ``keys``. One
    row comparison when every key runs the same way (an index condition on PostgreSQL,
    spelled out on SQLite), else its expansion, bounded on the first key."""
    if len({key.descending for key in keys}) == 1:
        lookup = TupleLessThan if keys[0].descending else TupleGreaterThan
        columns = Tuple(*(F(key.name) for key in keys))
        return queryset.filter(lookup(columns, list(values)))
    later = Q()
    for index, key in enumerate(keys):
        step = Q(**{f"{k.name}": v for k, v in zip(keys[:index], values, strict=False)})
        step &= Q(**{f"{key.name}__{'lt' if key.descending else 'gt'}": values[index]})
        later |= step
    first = keys[0]
    bound = Q(**{f"{first.name}__{'lte' if first.descending else 'gte'}": values[0]})
    return queryset.filter(bound & later)


@dataclass
class KeysetPage:
    rows: list[Any]
    next: str | None  # the cursor of the page after, if any
    previous: str | None  # the cursor of the page before, if any


def values_from(keys: Sequence[Key]) -> Callable[[Any], tuple[Any, ...]]:
    """Reads the keys' values of a row: a model instance or a ``values()`` dict."""

    def read(row: Any) -> tuple[Any, ...]:
        if isinstance(row, dict):
            return tuple(row[key.name] for key in keys)
        return tuple(getattr(row, key.name) for key in keys)

    return read


def keyset_page(
    queryset: QuerySet[Any], keys: Sequence[Key], position: Position | None, size: int
) -> KeysetPage:
    """One page of ``size`` rows of ``queryset`` in the order of ``keys`` from
    ``position`` (the first page without one): one query of ``size + 1`` rows."""
    backwards = position is not None and position.backwards
    order = [key.reversed() for key in keys] if backwards else list(keys)
    rows_qs = queryset.order_by(*(key.ordering for key in order))
    if position is not None:
        rows_qs = after(rows_qs, order, position.values)
    rows = list(rows_qs[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        if not rows:  # nothing before it any more (rows went away): the first page
            return keyset_page(queryset, keys, None, size)
        rows.reverse()
    read = values_from(keys)
    has_next = bool(rows) and (True if backwards else more)
    has_previous = bool(rows) and (more if backwards else position is not None)
    return KeysetPage(
        rows=rows,
        next=encode_cursor(read(rows[-1])) if has_next else None,
        previous=encode_cursor(read(rows[0]), backwards=True) if has_previous else None,
    )
