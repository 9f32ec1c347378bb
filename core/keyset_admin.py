"""The back office's long lists paged by keyset (core.keyset): ``?cursor=`` links to the
next and previous page, no COUNT over the table, no offset, and a date hierarchy that reads
only the first and last date (two index probes), never a scan for the dates that have rows.

A model admin uses it with ``get_changelist`` returning ``KeysetChangeList`` (or a subclass)
and ``change_list_template = KEYSET_CHANGE_LIST``; ``list_columns`` on the model admin, if
set, are the only columns its rows read. Filters, the search and the column
sorting work as in Django's list; changing any of them starts again from the first page
(their links drop the cursor). The order is the admin's (or the model's) ordering made
total by the primary key, every key in the direction of the last chosen one, so that one
index walked one way serves it; columns that are not plain non-null fields are left out
of it.
"""

from __future__ import annotations

import calendar
import copy
import datetime
from typing import Any

from django.contrib import messages
from django.contrib.admin.views.main import PAGE_VAR, ChangeList
from django.db import models
from django.http import HttpRequest
from django.utils import formats, timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from core.keyset import CURSOR_VAR, InvalidCursor, Key, decode_cursor, keys_of, keyset_page

KEYSET_CHANGE_LIST = "admin/keyset_change_list.html"


class KeysetPager:
    """What unfold's pager include reads of ``cl.paginator``: its template and page size."""

    template_name = "unfold/helpers/pagination_keyset.html"

    def __init__(self, per_page: int) -> None:
        self.per_page = per_page
        self.count = None  # never counted


class KeysetChangeList(ChangeList):
    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        # The cursor is the page's position, not a filter: the list's filters, search and
        # sorting links never carry it (they start at the first page again).
        self.cursor_text = request.GET.get(CURSOR_VAR, "")
        if CURSOR_VAR in request.GET:
            request = copy.copy(request)
            query = request.GET.copy()
            del query[CURSOR_VAR]
            request.GET = query  # type: ignore[assignment]
        self.keys: list[Key] = []
        self.next_page_url: str | None = None
        self.previous_page_url: str | None = None
        super().__init__(request, *args, **kwargs)

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> Any:
        """The filtered list; only the model admin's ``list_columns`` (when it names them)
        are read for its rows, so a row is not fetched with columns the list never shows."""
        queryset = super().get_queryset(request, exclude_parameters)
        columns = getattr(self.model_admin, "list_columns", None)
        if columns:
            queryset = queryset.select_related(None).only(*columns)
        return queryset

    def get_ordering(self, request: HttpRequest, queryset: Any) -> list[Any]:
        ordering = super().get_ordering(request, queryset)
        defaults = (
            self.model_admin.get_ordering(request) or self._get_default_ordering()  # type: ignore[attr-defined]
        )
        self.keys = keys_of(
            self.model, ordering, then=[part for part in defaults if isinstance(part, str)]
        )
        return [key.ordering for key in self.keys]

    def get_results(self, request: HttpRequest) -> None:
        position = None
        if self.cursor_text:
            try:
                position = decode_cursor(self.cursor_text, self.model, self.keys)
            except InvalidCursor:
                messages.warning(
                    request, _("This page's link cannot be read: the list starts again here.")
                )
        page = keyset_page(self.queryset, self.keys, position, self.list_per_page)
        self.result_list = page.rows
        self.result_count = len(page.rows)
        # No total is known: equal counts keep the header and the search box from showing
        # "N results (Show all)" for the rows of one page.
        self.full_result_count = self.result_count
        self.show_full_result_count = False
        self.show_admin_actions = True
        self.can_show_all = False
        self.multi_page = False
        self.paginator = KeysetPager(self.list_per_page)
        self.next_page_url = self._page_url(page.next)
        self.previous_page_url = self._page_url(page.previous)

    def _page_url(self, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        return self.get_query_string({CURSOR_VAR: cursor}, [PAGE_VAR])

    def get_query_string(self, new_params: Any = None, remove: Any = None) -> str:
        new_params = dict(new_params or {})
        new_params.setdefault(CURSOR_VAR, None)  # None removes it
        return super().get_query_string(new_params, remove)

    # --- the date hierarchy from the first and last date only ---------------------------------

    def date_links(self) -> dict[str, Any]:
        """What ``admin/date_hierarchy.html`` shows (Django's ``date_hierarchy`` tag's
        context), each level's links running from the first date to the last one of the
        filtered list: one MIN/MAX query (an index's two ends), where Django's tag scans the
        list for the years, months or days that hold rows."""
        name = self.date_hierarchy
        year_field, month_field, day_field = (
            f"{name}__{part}" for part in ("year", "month", "day")
        )
        year, month, day = (self.params.get(f) for f in (year_field, month_field, day_field))

        def link(filters: dict[str, Any]) -> str:
            return self.get_query_string(filters, [f"{name}__"])

        if year and month and day:
            shown = datetime.date(int(year), int(month), int(day))
            return {
                "show": True,
                "back": {
                    "link": link({year_field: year, month_field: month}),
                    "title": capfirst(formats.date_format(shown, "YEAR_MONTH_FORMAT")),
                },
                "choices": [{"title": capfirst(formats.date_format(shown, "MONTH_DAY_FORMAT"))}],
            }
        first, last = self._date_range(name)
        if first is None or last is None:
            return {"show": False}
        if not (year or month) and first.year == last.year:
            year = str(first.year)
            if first.month == last.month:
                month = str(first.month)
        if year and month:
            y, m = int(year), int(month)
            days = range(
                first.day if (first.year, first.month) == (y, m) else 1,
                (last.day if (last.year, last.month) == (y, m) else calendar.monthrange(y, m)[1])
                + 1,
            )
            return {
                "show": True,
                "back": {"link": link({year_field: year}), "title": str(year)},
                "choices": [
                    {
                        "link": link({year_field: year, month_field: month, day_field: d}),
                        "title": capfirst(
                            formats.date_format(datetime.date(y, m, d), "MONTH_DAY_FORMAT")
                        ),
                    }
                    for d in days
                ],
            }
        if year:
            y = int(year)
            months = range(
                first.month if first.year == y else 1, (last.month if last.year == y else 12) + 1
            )
            return {
                "show": True,
                "back": {"link": link({}), "title": _("All dates")},
                "choices": [
                    {
                        "link": link({year_field: year, month_field: m}),
                        "title": capfirst(
                            formats.date_format(datetime.date(y, m, 1), "YEAR_MONTH_FORMAT")
                        ),
                    }
                    for m in months
                ],
            }
        return {
            "show": True,
            "back": None,
            "choices": [
                {"link": link({year_field: str(y)}), "title": str(y)}
                for y in range(first.year, last.year + 1)
            ],
        }

    def _date_range(self, name: str) -> tuple[Any, Any]:
        found = self.queryset.aggregate(first=models.Min(name), last=models.Max(name))
        first, last = found["first"], found["last"]
        if isinstance(first, datetime.datetime) and timezone.is_aware(first):
            first = timezone.localtime(first)
        if isinstance(last, datetime.datetime) and timezone.is_aware(last):
            last = timezone.localtime(last)
        return first, last
