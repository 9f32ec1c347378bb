"""A back-office list filter by local days, ``?since=YYYY-MM-DD&until=YYYY-MM-DD`` (both
included, either may be left out): the names ``audits.panels.Period.query()`` writes, so a
dashboard number links to its list over the same days. For any list, in any app::

    list_filter = [..., day_range_filter("erased_at")]

Days are the tenant's (the time zone the request's scope activated). A value that is not a
date, or a reversed range, is ignored with a message saying so — never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from audits.periods import EARLIEST, LATEST_AHEAD

SINCE, UNTIL = "since", "until"


def parse_day(value: str | None) -> date | None:
    """A local day from a list's ``since``/``until``: a valid ISO date within the range the
    period picker accepts, else None (so a hand-edited URL never overflows a date)."""
    if not isinstance(value, str):
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        return None
    today = timezone.localdate()
    return day if EARLIEST <= day <= today + LATEST_AHEAD else None


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class DayRangeFilter(admin.ListFilter):
    """Rows whose ``field_name`` falls on the local days from ``since`` to ``until``."""

    title = _("days")
    field_name = ""
    template = "admin/filter.html"

    def __init__(
        self, request: HttpRequest, params: dict[str, Any], model: Any, model_admin: Any
    ) -> None:
        super().__init__(request, params, model, model_admin)
        self.since: date | None = None
        self.until: date | None = None
        bad = []
        for name in (SINCE, UNTIL):
            if name not in params:
                continue
            raw = params.pop(name)
            value = raw[-1] if isinstance(raw, list) else raw
            self.used_parameters[name] = value
            day = parse_day(value)
            if day is None and value:
                bad.append(name)
            setattr(self, name, day)
        if self.since and self.until and self.until < self.since:
            bad.append(UNTIL)
            self.until = None
        if bad:
            messages.warning(
                request,
                gettext(
                    "Ignored %(names)s: give a day as YYYY-MM-DD, the last not before the first."
                )
                % {"names": ", ".join(bad)},
            )

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str | None]:
        return [SINCE, UNTIL]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.since is not None:
            queryset = queryset.filter(**{f"{self.field_name}__gte": _midnight(self.since)})
        if self.until is not None:
            end = _midnight(self.until + timedelta(days=1))
            queryset = queryset.filter(**{f"{self.field_name}__lt": end})
        return queryset

    def choices(self, changelist: ChangeList) -> Iterator[Any]:
        today = timezone.localdate()
        options = [
            {
                "selected": self.since is None and self.until is None,
                "query_string": changelist.get_query_string(remove=[SINCE, UNTIL]),
                "display": gettext("Any day"),
            }
        ]
        for label, first in (
            (gettext("Today"), today),
            (gettext("Last 7 days"), today - timedelta(days=6)),
            (gettext("Last 30 days"), today - timedelta(days=29)),
        ):
            options.append(
                {
                    "selected": self.since == first and self.until == today,
                    "query_string": changelist.get_query_string(
                        {SINCE: first.isoformat(), UNTIL: today.isoformat()}
                    ),
                    "display": label,
                }
            )
        if (self.since or self.until) and not any(o["selected"] for o in options):
            # A range of its own (a dashboard's period): shown as the choice made.
            given = {k: v.isoformat() for k, v in ((SINCE, self.since), (UNTIL, self.until)) if v}
            options.append(
                {
                    "selected": True,
                    "query_string": changelist.get_query_string(given),
                    "display": gettext("%(since)s to %(until)s")
                    % {"since": given.get(SINCE, "…"), "until": given.get(UNTIL, "…")},
                }
            )
        return iter(options)


def day_range_filter(field_name: str, title: Any = None) -> type[DayRangeFilter]:
    """A ``DayRangeFilter`` on ``field_name`` (a DateTimeField), titled ``title``."""
    return type(
        f"DayRangeFilter_{field_name}",
        (DayRangeFilter,),
        {"field_name": field_name, "title": title or DayRangeFilter.title},
    )


def period_query(first: date, last: date) -> str:
    """``since=…&until=…`` for the local days ``first`` to ``last`` (both included)."""
    return urlencode({SINCE: first.isoformat(), UNTIL: last.isoformat()})
