"""Appending rows of tenant-owned models fast: ``insert_rows`` for the hot paths (intake,
the audit append), ``append_rows`` for batches.

On PostgreSQL large batches go through COPY: one stream instead of an INSERT whose every
value the driver quotes (the retention sweep's ledger entries and audit events). Rows
appended that way get no primary key back; callers that need ids pass small batches, which
use ``bulk_create``. Every row is checked against the active tenant scope first, as
``save()`` and ``bulk_create`` do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connections, models, router

COPY_THRESHOLD = 100


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
    columns: list[models.Field[Any, Any]] = []
    for name in fields:
        field = model._meta.get_field(name)
        if not isinstance(field, models.Field) or field.column is None:
            raise TypeError(f"{model.__name__}.{name} is not a concrete column")
        columns.append(field)
    quote = connection.ops.quote_name
    statement = "COPY {} ({}) FROM STDIN".format(
        quote(model._meta.db_table), ", ".join(quote(str(c.column)) for c in columns)
    )
    # The driver adapts plain values itself; JSON goes as its text.
    encoders = [_json_encoder(c) if isinstance(c, models.JSONField) else None for c in columns]
    names = [c.attname for c in columns]
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for row in rows:
            values = [getattr(row, name) for name in names]
            for index, encode in enumerate(encoders):
                if encode is not None and values[index] is not None:
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
) -> tuple[str, list[Any]]:
    """The INSERT ... RETURNING pk of ``rows`` and its parameters, as ``save()`` would
    write them (``auto_now_add`` and the other ``pre_save`` values applied, the tenant
    scope checked). ``fields`` defaults to every concrete column but an auto-increment
    key. ``raw`` gives an SQL expression for some fields instead of their values (another
    part of the same statement, such as ``(SELECT id FROM earlier_cte)``)."""
    for row in rows:
        row._check_write_scope("Saving")  # type: ignore[attr-defined]
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
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    raw = raw or {}
    one = "(" + ", ".join(raw.get(c.name, "%s") for c in columns) + ")"
    # Only quoted identifiers from the model's own metadata and the caller's fixed
    # expressions; every value is a parameter.
    statement = "INSERT INTO {} ({}) VALUES {}{} RETURNING {}".format(  # noqa: S608
        quote(meta.db_table),
        ", ".join(quote(str(c.column)) for c in columns),
        ", ".join([one] * len(rows)),
        " ON CONFLICT DO NOTHING" if skip_conflicts else "",
        quote(str(pk.column)),
    )
    params = [
        column.get_db_prep_save(column.pre_save(row, True), connection)
        for row in rows
        for column in columns
        if column.name not in raw
    ]
    return statement, params


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
    with connection.cursor() as cursor:
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


def fetch_rows(
    model: type[models.Model],
    fields: Sequence[str],
    *,
    limit: int | None = None,
    key_share: bool = False,
    **equals: Any,
) -> list[tuple[Any, ...]]:
    """``fields`` of the rows where every ``column = value`` of ``equals`` holds, read with
    one plain SELECT (hot read paths: the vault's key and blind-index lookups). Always
    filtered by the active tenant scope, like the scoped managers: outside a scope it
    raises ``ScopeError``. Values come back converted as the ORM would. ``key_share``
    locks the rows found FOR KEY SHARE until the transaction ends (where the database has
    row locks): a concurrent ``select_for_update`` waits, or skips them."""
    from tenants.scoping import ScopeError, active_tenant_id

    tenant_id = active_tenant_id()
    if tenant_id is None:
        raise ScopeError(f"Reading {model.__name__} needs an active tenant scope.")
    meta = model._meta
    connection = connections[router.db_for_read(model)]
    quote = connection.ops.quote_name
    selected = [meta.get_field(name) for name in fields]
    conditions = {"tenant": tenant_id, **equals}
    where = [meta.get_field(name) for name in conditions]
    # Only quoted identifiers from the model's own metadata; every value is a parameter.
    statement = "SELECT {} FROM {} WHERE {}{}".format(  # noqa: S608
        ", ".join(quote(str(f.column)) for f in selected),  # type: ignore[union-attr]
        quote(meta.db_table),
        " AND ".join(
            f"{quote(str(f.column))} IS NULL" if value is None else f"{quote(str(f.column))} = %s"  # type: ignore[union-attr]
            for f, value in zip(where, conditions.values(), strict=True)
        ),
        f" LIMIT {int(limit)}" if limit is not None else "",
    )
    if key_share and connection.features.has_select_for_update:
        statement += " FOR KEY SHARE"
    params = [
        f.get_db_prep_value(value, connection)  # type: ignore[union-attr]
        for f, value in zip(where, conditions.values(), strict=True)
        if value is not None
    ]
    converters = [
        [
            *connection.ops.get_db_converters(f.get_col(meta.db_table)),  # type: ignore[union-attr]
            *f.get_db_converters(connection),  # type: ignore[union-attr]
        ]
        for f in selected
    ]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        rows = cursor.fetchall()
    out = []
    for row in rows:
        values = list(row)
        for index, (value, field, convert) in enumerate(
            zip(row, selected, converters, strict=True)
        ):
            for converter in convert:
                value = converter(value, field.get_col(meta.db_table), connection)  # type: ignore[union-attr]
            values[index] = value
        out.append(tuple(values))
    return out
