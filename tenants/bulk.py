"""Appending many rows of a tenant-owned model at once.

On PostgreSQL large batches go through COPY: one stream instead of an INSERT whose every
value the driver quotes (the retention sweep's ledger entries and audit events). Rows
appended that way get no primary key back; callers that need ids pass small batches, which
use ``bulk_create``. Every row is checked against the active tenant scope first, as
``save()`` and ``bulk_create`` do.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
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
