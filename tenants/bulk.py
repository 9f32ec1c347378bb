"""Appending rows of tenant-owned models fast: ``insert_rows`` for the hot paths (intake,
the audit append), ``append_rows`` for batches.

On PostgreSQL large batches go through COPY: one stream instead of an INSERT whose every
value the driver quotes (the retention sweep's ledger entries and audit events). Rows
appended that way get no primary key back; callers that need ids pass small batches, which
use ``bulk_create``. Every row is checked against the active tenant scope first, as
``save()`` and ``bulk_create`` do.
"""

from __future__ import annotations

import functools
import json
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg
from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.postgresql.base import CursorDebugWrapper as PgDebugCursor
from django.db.backends.postgresql.base import CursorMixin  # type: ignore[attr-defined]
from django.db.backends.utils import CursorWrapper
from django_scopes.exceptions import ScopeError

from tenants.scoping import active_tenant_id, scopes_are_disabled

COPY_THRESHOLD = 100


def hot_cursor(connection: BaseDatabaseWrapper) -> CursorWrapper:
    """A cursor for the hot paths' fixed statements (intake, the audit append, the vault's
    lookups). On PostgreSQL it binds parameters on the server, so psycopg prepares a
    statement it has run ``prepare_threshold`` times on this connection and later runs
    skip parsing and planning (config/settings.py; docs/decisions/0005). The ORM's own
    cursors bind on the client and never prepare. It is wrapped like any Django cursor:
    execute wrappers, query logging and error translation apply. Statements are written
    with ``%s`` placeholders, as everywhere in Django."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        raw = _NativeCursor(connection.connection)
    if connection.queries_logged:
        return _HotDebugCursor(raw, connection)
    return connection.make_cursor(raw)


class _NativeCursor(CursorMixin, psycopg.RawCursor):
    """Binds on the server with PostgreSQL's own ``$n`` placeholders, converted from the
    ``%s`` ones once per statement text (``native_placeholders``): psycopg's own cursor
    re-parses a statement of over 50 parameters, such as the intake's, on every run."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        if params is not None and isinstance(query, str):
            query = native_placeholders(query)
        return super().execute(query, params, **kwargs)


@functools.lru_cache(maxsize=512)
def native_placeholders(statement: str) -> str:
    """``statement`` with its ``%s`` placeholders numbered ``$1``, ``$2``... and ``%%`` as
    ``%``, as psycopg reads them; any other ``%`` is refused, as psycopg refuses it."""
    parts = statement.split("%")
    out, number, index = [parts[0]], 0, 1
    while index < len(parts):
        part = parts[index]
        if part.startswith("s"):
            number += 1
            out.append(f"${number}{part[1:]}")
        elif part == "" and index + 1 < len(parts):  # "%%"
            out.append("%" + parts[index + 1])
            index += 1
        else:
            raise ValueError(f"only %s placeholders and %% are allowed: {statement[:80]!r}")
        index += 1
    return "".join(out)


class _HotDebugCursor(PgDebugCursor):
    """Logs the statement as written (placeholders, not values): a prepared run leaves
    no interpolated text behind to log."""

    def execute(self, sql: Any, params: Any = None) -> Any:
        with self.debug_sql(sql, params):
            return CursorWrapper.execute(self, sql, params)


def append_rows(
    model: type[models.Model], rows: Sequence[models.Model], fields: Sequence[str]
) -> None:
    """Insert ``rows`` (unsaved instances with every value in ``fields`` set; defaults and
    ``auto_now_add`` are not applied on the COPY path, so the caller sets them)."""
    if not rows:
        return
    for row in rows:
        row._check_write_scope("Saving")  # type: ignore[attr-defined]
    alias = router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor != "postgresql" or len(rows) < COPY_THRESHOLD:
        model._default_manager.db_manager(alias).bulk_create(rows, batch_size=1000)
        return
    columns = _columns(model, fields)
    names = [c.attname for c in columns]
    _copy(connection, model, columns, ([getattr(row, name) for name in names] for row in rows))


def copy_values(
    model: type[models.Model], fields: Sequence[str], values: Sequence[Mapping[str, Any]]
) -> None:
    """Insert rows given as mappings of attribute names (``tenant_id``, not ``tenant``) to
    values, with COPY on PostgreSQL, building no model instance: for batches whose rows
    nobody reads back (the retention sweep's audit events). Each row's tenant must be
    the active scope's, as ``append_rows`` checks; elsewhere than on PostgreSQL the rows
    go through ``append_rows``."""
    if not values:
        return
    connection = connections[router.db_for_write(model)]
    columns = _columns(model, fields)
    names = [c.attname for c in columns]
    if connection.vendor != "postgresql":
        append_rows(model, [model(**{n: row[n] for n in names}) for row in values], fields)
        return
    if not scopes_are_disabled():
        active = active_tenant_id()
        if active is None or any(row["tenant_id"] != active for row in values):
            raise ScopeError(
                f"Saving {model.__name__}: every row must belong to the active tenant scope."
            )
    _copy(connection, model, columns, ([row[name] for name in names] for row in values))


def _columns(model: type[models.Model], fields: Sequence[str]) -> list[models.Field[Any, Any]]:
    columns: list[models.Field[Any, Any]] = []
    for name in fields:
        field = model._meta.get_field(name)
        if not isinstance(field, models.Field) or field.column is None:
            raise TypeError(f"{model.__name__}.{name} is not a concrete column")
        columns.append(field)
    return columns


def _copy(
    connection: BaseDatabaseWrapper,
    model: type[models.Model],
    columns: Sequence[models.Field[Any, Any]],
    rows: Iterable[list[Any]],
) -> None:
    quote = connection.ops.quote_name
    statement = "COPY {} ({}) FROM STDIN".format(
        quote(model._meta.db_table), ", ".join(quote(str(c.column)) for c in columns)
    )
    # The driver adapts plain values itself; JSON goes as its text.
    encoders = [
        (index, _json_encoder(c))
        for index, c in enumerate(columns)
        if isinstance(c, models.JSONField)
    ]
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for values in rows:
            for index, encode in encoders:
                if values[index] is not None:
                    values[index] = encode(values[index])
            copy.write_row(values)


def _json_encoder(field: models.JSONField[Any]) -> Any:
    return json.JSONEncoder().encode if field.encoder is None else field.encoder().encode


def insert_statement(
    model: type[models.Model],
    rows: Sequence[models.Model],
    fields: Sequence[str] | None = None,
    *,
    skip_conflicts: bool = False,
    raw: Mapping[str, str] | None = None,
    source: str | None = None,
    where: tuple[str, list[Any]] | None = None,
) -> tuple[str, list[Any]]:
    """The INSERT ... RETURNING pk of ``rows`` and its parameters, as ``save()`` would
    write them (``auto_now_add`` and the other ``pre_save`` values applied, the tenant
    scope checked). ``fields`` defaults to every concrete column but an auto-increment
    key. ``raw`` gives an SQL expression for some fields instead of their values (another
    part of the same statement, such as ``(SELECT id FROM earlier_cte)``).

    With ``source`` (``FROM`` items, such as earlier CTEs) or ``where`` (an SQL condition
    and its parameters), the one row is inserted with ``INSERT ... SELECT``: once per
    row of ``source`` (``raw`` may name their columns), and only if ``where`` holds."""
    if (source is not None or where is not None) and len(rows) != 1:
        raise ValueError("an INSERT ... SELECT writes one row")
    for row in rows:
        row._check_write_scope("Saving")  # type: ignore[attr-defined]
    alias = router.db_for_write(model)
    statement, columns = _insert_plan(
        model,
        None if fields is None else tuple(fields),
        tuple(sorted((raw or {}).items())),
        source,
        None if where is None else where[0],
        len(rows),
        skip_conflicts,
        alias,
    )
    connection = connections[alias]
    params = [
        column.get_db_prep_save(column.pre_save(row, True), connection)
        for row in rows
        for column in columns
    ]
    return statement, [*params, *(where[1] if where else [])]


@functools.lru_cache(maxsize=256)
def _insert_plan(
    model: type[models.Model],
    fields: tuple[str, ...] | None,
    raw_items: tuple[tuple[str, str], ...],
    source: str | None,
    where: str | None,
    count: int,
    skip_conflicts: bool,
    alias: str,
) -> tuple[str, tuple[models.Field[Any, Any], ...]]:
    """``insert_statement``'s SQL and the columns its parameters are the values of: built
    once per shape (the hot paths run the same few shapes all day)."""
    meta = model._meta
    pk = meta.pk
    if pk is None:
        raise TypeError(f"{model.__name__} has no primary key")
    if fields is None:
        columns = [
            f
            for f in meta.concrete_fields
            if not (f.primary_key and isinstance(f, models.AutoField))
        ]
    else:
        columns = [meta.get_field(name) for name in fields]  # type: ignore[misc]
    quote = connections[alias].ops.quote_name
    raw = dict(raw_items)
    one = ", ".join(raw.get(c.name, "%s") for c in columns)
    if source is None and where is None:
        values = "VALUES " + ", ".join([f"({one})"] * count)
    else:
        values = f"SELECT {one}" + (f" FROM {source}" if source else "")  # noqa: S608
        values += f" WHERE {where}" if where else ""
    # Only quoted identifiers from the model's own metadata and the caller's fixed
    # expressions; every value is a parameter.
    statement = "INSERT INTO {} ({}) {}{} RETURNING {}".format(  # noqa: S608
        quote(meta.db_table),
        ", ".join(quote(str(c.column)) for c in columns),
        values,
        " ON CONFLICT DO NOTHING" if skip_conflicts else "",
        quote(str(pk.column)),
    )
    return statement, tuple(c for c in columns if c.name not in raw)


def insert_rows(
    model: type[models.Model],
    rows: Sequence[models.Model],
    fields: Sequence[str] | None = None,
    *,
    skip_conflicts: bool = False,
    along: tuple[str, list[Any]] | None = None,
) -> int:
    """INSERT ``rows`` in one statement (``insert_statement``) and set their primary keys,
    without the ORM's query building. With ``skip_conflicts``, a row that would break a
    unique constraint is left out (``ON CONFLICT DO NOTHING``; its pk stays unset).
    Returns the number of rows inserted. No signals are sent.

    ``along`` is another write (SQL, params; e.g. another ``insert_statement``) to make
    with it: in the same round trip on PostgreSQL (a data-modifying WITH; foreign keys
    are checked at commit), just before it elsewhere. It is made even when
    ``skip_conflicts`` leaves the rows out.
    """
    if not rows:
        return 0
    statement, params = insert_statement(model, rows, fields, skip_conflicts=skip_conflicts)
    meta = model._meta
    pk = meta.pk
    connection = connections[router.db_for_write(model)]
    with hot_cursor(connection) as cursor:
        if along is not None and connection.vendor == "postgresql":
            statement, params = f"WITH along AS ({along[0]}) {statement}", [*along[1], *params]
        elif along is not None:
            cursor.execute(*along)
        cursor.execute(statement, params)
        returned = [value for (value,) in cursor.fetchall()]
    if skip_conflicts and len(returned) != len(rows):
        if len(rows) != 1:
            raise ValueError("skip_conflicts needs one row per statement to tell which one")
        return 0
    converters = connection.ops.get_db_converters(pk.get_col(meta.db_table))
    for row, value in zip(rows, returned, strict=True):
        for converter in converters:
            value = converter(value, pk, connection)
        setattr(row, pk.attname, value)
        row._state.adding, row._state.db = False, connection.alias
    return len(returned)


def select_statement(
    model: type[models.Model],
    fields: Sequence[str],
    *,
    limit: int | None = None,
    key_share: bool = False,
    where: tuple[str, list[Any]] | None = None,
    **equals: Any,
) -> tuple[str, list[Any]]:
    """The plain SELECT of ``fetch_rows`` and its parameters, for a caller that runs it
    inside a statement of its own (a CTE). ``where`` adds an SQL condition and its
    parameters; ``key_share`` locks the rows found FOR KEY SHARE until the transaction
    ends (where the database has row locks: a concurrent ``select_for_update`` waits, or
    skips them). Filtered by the active tenant scope; outside one it raises."""
    from tenants.scoping import ScopeError, active_tenant_id

    tenant_id = active_tenant_id()
    if tenant_id is None:
        raise ScopeError(f"Reading {model.__name__} needs an active tenant scope.")
    alias = router.db_for_read(model)
    conditions = {"tenant": tenant_id, **equals}
    statement, tested = _select_plan(
        model,
        tuple(fields),
        tuple((name, _test_kind(value)) for name, value in conditions.items()),
        limit,
        key_share,
        None if where is None else where[0],
        alias,
    )
    connection = connections[alias]
    params: list[Any] = []
    for name, field in tested:
        value = conditions[name]
        if isinstance(value, list | tuple):
            params += [field.get_db_prep_value(item, connection) for item in value]
        else:
            params.append(field.get_db_prep_value(value, connection))
    return statement, [*params, *(where[1] if where else [])]


def _test_kind(value: Any) -> str | int:
    """How a condition tests its column: IS NULL, = a value, or IN (this many values)."""
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        if not value:
            raise ValueError("an IN condition needs at least one value")
        return len(value)
    return "equals"


@functools.lru_cache(maxsize=256)
def _select_plan(
    model: type[models.Model],
    fields: tuple[str, ...],
    conditions: tuple[tuple[str, str | int], ...],
    limit: int | None,
    key_share: bool,
    where: str | None,
    alias: str,
) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """``select_statement``'s SQL and the (name, field) of each condition that takes
    parameters (``conditions``: each name and its ``_test_kind``)."""
    meta = model._meta
    connection = connections[alias]
    quote = connection.ops.quote_name
    tests, tested = [], []
    for name, kind in conditions:
        field = meta.get_field(name)
        column = quote(str(field.column))  # type: ignore[union-attr]
        if kind == "null":
            tests.append(f"{column} IS NULL")
            continue
        if kind == "equals":
            tests.append(f"{column} = %s")
        else:
            tests.append(f"{column} IN ({', '.join(['%s'] * int(kind))})")
        tested.append((name, field))
    if where is not None:
        tests.append(where)
    # Only quoted identifiers from the model's own metadata and the caller's fixed
    # condition; every value is a parameter.
    statement = "SELECT {} FROM {} WHERE {}{}".format(  # noqa: S608
        ", ".join(quote(str(meta.get_field(name).column)) for name in fields),  # type: ignore[union-attr]
        quote(meta.db_table),
        " AND ".join(tests),
        f" LIMIT {int(limit)}" if limit is not None else "",
    )
    if key_share and connection.features.has_select_for_update:
        statement += " FOR KEY SHARE"
    return statement, tuple(tested)


def fetch_rows(
    model: type[models.Model],
    fields: Sequence[str],
    *,
    limit: int | None = None,
    **equals: Any,
) -> list[tuple[Any, ...]]:
    """``fields`` of the rows where every ``column = value`` of ``equals`` holds (``column
    IN values`` for a list), read with one plain SELECT (hot read paths: the vault's key
    and blind-index lookups). Always filtered by the active tenant scope, like the scoped
    managers: outside a scope it raises ``ScopeError``. Values come back converted as the
    ORM would."""
    statement, params = select_statement(model, fields, limit=limit, **equals)
    connection = connections[router.db_for_read(model)]
    converters = _converters(model, tuple(fields), connection)
    with hot_cursor(connection) as cursor:
        cursor.execute(statement, params)
        rows = cursor.fetchall()
    if not any(converters):
        return [tuple(row) for row in rows]
    out = []
    for row in rows:
        values = list(row)
        for index, convert in enumerate(converters):
            for converter, expression in convert:
                values[index] = converter(values[index], expression, connection)
        out.append(tuple(values))
    return out


_converter_cache: weakref.WeakKeyDictionary[BaseDatabaseWrapper, dict[Any, Any]] = (
    weakref.WeakKeyDictionary()
)


def _converters(
    model: type[models.Model], fields: tuple[str, ...], connection: BaseDatabaseWrapper
) -> tuple[tuple[tuple[Any, Any], ...], ...]:
    """For each of ``fields``, the ORM's converters of its column (with the expression
    each is called with), as a queryset would apply them; kept per connection, whose
    operations some converters are bound to."""
    cache = _converter_cache.setdefault(connection, {})
    found = cache.get((model, fields))
    if found is None:
        meta, found = model._meta, []
        for name in fields:
            field = meta.get_field(name)
            column = field.get_col(meta.db_table)  # type: ignore[union-attr]
            converters = [
                *connection.ops.get_db_converters(column),
                *field.get_db_converters(connection),  # type: ignore[union-attr]
            ]
            found.append(tuple((converter, column) for converter in converters))
        found = cache[(model, fields)] = tuple(found)
    return found
