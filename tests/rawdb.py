"""Raw SQL on the test databases: reading what is really stored, and tampering with it the
way an attacker with database access would (never through the ORM)."""

from __future__ import annotations

from typing import Any

from django.db import connections, models, router


def _conn(model: type[models.Model]) -> Any:
    return connections[router.db_for_write(model)]


def db_pk(model: type[models.Model], pk: Any) -> Any:
    connection = _conn(model)
    return model._meta.pk.get_db_prep_value(pk, connection)  # type: ignore[union-attr]


def read_column(model: type[models.Model], pk: Any, column: str) -> bytes:
    connection = _conn(model)
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(model._meta.db_table)
        cursor.execute(
            f"SELECT {connection.ops.quote_name(column)} FROM {table} WHERE id = %s",  # noqa: S608
            [db_pk(model, pk)],
        )
        return bytes(cursor.fetchone()[0])


def write_column(model: type[models.Model], pk: Any, column: str, value: Any) -> None:
    connection = _conn(model)
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(model._meta.db_table)
        cursor.execute(
            f"UPDATE {table} SET {connection.ops.quote_name(column)} = %s WHERE id = %s",  # noqa: S608
            [value, db_pk(model, pk)],
        )


def all_stored_values(alias: str) -> list[Any]:
    """Every value of every row of every table in database ``alias``."""
    connection = connections[alias]
    values: list[Any] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                values.extend(row)
    return values
