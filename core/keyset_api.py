"""Keyset pagination for DRF (core.keyset): ``{"next", "previous", "results"}`` with
``?cursor=`` links, no count, and a bad cursor a 400 naming ``cursor``. Subclass it with
the list's ``ordering`` (non-null columns, the last unique), matched by an index that
leads with the tenant."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.utils.urls import replace_query_param

from core.keyset import (
    CURSOR_MAX_LENGTH,
    CURSOR_PATTERN,
    CURSOR_VAR,
    InvalidCursor,
    KeysetPage,
    decode_cursor,
    keys_of,
    keyset_page,
)

CURSOR_DESCRIPTION = (
    "Where the page starts: the cursor of a `next` or `previous` link, as given. "
    "Without it, the first page."
)


class KeysetPagination(BasePagination):
    ordering: ClassVar[tuple[str, ...]] = ("-pk",)
    page_size: int = api_settings.PAGE_SIZE or 50

    def __init__(self) -> None:
        self.page: KeysetPage | None = None
        self.base_url = ""

    def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any]:
        model = queryset.model
        keys = keys_of(model, self.ordering)
        text = request.query_params.get(CURSOR_VAR)
        position = None
        if text:
            try:
                position = decode_cursor(text, model, keys)
            except InvalidCursor as error:
                raise serializers.ValidationError({CURSOR_VAR: [str(error)]}) from None
        self.base_url = request.build_absolute_uri()
        self.page = keyset_page(queryset, keys, position, self.page_size)
        return self.page.rows

    def _link(self, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        return replace_query_param(self.base_url, CURSOR_VAR, cursor)

    def get_paginated_response(self, data: Any) -> Response:
        assert self.page is not None  # noqa: S101 - paginate_queryset ran first
        return Response(
            {
                "next": self._link(self.page.next),
                "previous": self._link(self.page.previous),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        def link(what: str) -> dict[str, Any]:
            return {
                "type": "string",
                "nullable": True,
                "format": "uri",
                "description": f"The {what} page (null when there is none).",
            }

        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": link("next"),
                "previous": link("previous"),
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": CURSOR_VAR,
                "required": False,
                "in": "query",
                "description": CURSOR_DESCRIPTION,
                "schema": {
                    "type": "string",
                    "maxLength": CURSOR_MAX_LENGTH,
                    "pattern": CURSOR_PATTERN,
                },
            }
        ]
