"""``field__any=[...]``: membership in a list sent as one array parameter on PostgreSQL.

``field__in=[...]`` writes one placeholder per value. For the erasure batches' lists of a
thousand ids that means a statement psycopg parses again on every run (it caches its
parsing for 50 parameters at most) and a thousand values prepared one by one by the
lookup. ``= ANY(%s)`` takes the list as one ``uuid[]`` (or other array) parameter. Other
databases get the ``IN`` list, as ``__in`` writes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from django.db import models
from django.db.models.lookups import In, Lookup


class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self) -> Any:
        if isinstance(self.rhs, str | models.QuerySet) or not hasattr(self.rhs, "__iter__"):
            raise TypeError(f"{self.lookup_name} takes a list of values (not a queryset)")
        prepare = self.lhs.output_field.get_prep_value
        return [
            prepare(value.pk if isinstance(value, models.Model) else value)
            for value in self.rhs
            if value is not None
        ]

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        if connection.vendor != "postgresql":
            if not self.rhs:
                return "1 = 0", []
            return In(self.lhs, self.rhs).as_sql(compiler, connection)
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        values = [field.get_db_prep_value(v, connection, prepared=True) for v in self.rhs]
        if values and all(type(v) is UUID for v in values):
            return f"{lhs} = ANY(%s::uuid[])", [*lhs_params, uuid_array(values)]
        return f"{lhs} = ANY(%s)", [*lhs_params, values]


def uuid_array(values: Iterable[UUID]) -> str:
    """A ``uuid[]`` parameter as the one text PostgreSQL reads (``'{…}'``, cast with
    ``::uuid[]`` in the statement): psycopg would otherwise adapt, and check for quoting,
    every element of a thousand-id list on every statement. Only ``UUID`` objects, whose
    text is hex digits and dashes, so nothing needs quoting."""
    return "{" + ",".join([str(v if type(v) is UUID else UUID(str(v))) for v in values]) + "}"


def register() -> None:
    models.Field.register_lookup(AnyOf)
    models.ForeignObject.register_lookup(AnyOf)  # related fields keep lookups of their own
