"""The supervisor dashboard's period picker (issue 20, point 1): a preset (today, the last 7
or 30 days, this month, last month) or a custom range of local days, read from the query
string so that the choice survives a reload and a shared link.

The parameters are ``period`` (the preset; ``custom`` for a range) and, for a custom range,
``since`` and ``until`` — local dates, both included, the names ``Period.query()`` writes —
so a list's ``?since=…&until=…`` opens the dashboard on the same days. A bad date, a
reversed range or one longer than ``MAX_DAYS`` is a form error naming its field (the page
answers 400), never a 500."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audits.panels import Period
from tenants.models import Tenant
from tenants.timezones import zone_named

#: The longest custom range, in days (a leap year).
MAX_DAYS = 366
#: The earliest day one may ask for (nothing was recorded before; it also keeps the
#: arithmetic far from ``date.min``).
EARLIEST = date(2000, 1, 1)
#: How far ahead a range may end (a range ending tomorrow shows nothing more, but is no error).
LATEST_AHEAD = timedelta(days=MAX_DAYS)


class Preset(models.TextChoices):
    TODAY = "today", _("Today")
    LAST_7_DAYS = "7d", _("Last 7 days")
    LAST_30_DAYS = "30d", _("Last 30 days")
    THIS_MONTH = "this_month", _("This month")
    LAST_MONTH = "last_month", _("Last month")
    CUSTOM = "custom", _("Custom range")


DEFAULT_PRESET = Preset.LAST_30_DAYS


def preset_days(preset: str, today: date) -> tuple[date, date]:
    """The first and last local day (both included) of ``preset`` as seen on ``today``."""
    if preset == Preset.TODAY:
        return today, today
    if preset == Preset.LAST_7_DAYS:
        return today - timedelta(days=6), today
    if preset == Preset.THIS_MONTH:
        return today.replace(day=1), today
    if preset == Preset.LAST_MONTH:
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    return today - timedelta(days=29), today  # the last 30 days, the default


def period_of_days(first: date, last: date, zone: ZoneInfo) -> Period:
    """The ``Period`` from midnight starting ``first`` to midnight after ``last``, local
    days of ``zone`` (a day of a daylight-saving change is 23 or 25 hours long)."""
    start = timezone.make_aware(datetime.combine(first, time.min), zone)
    end = timezone.make_aware(datetime.combine(last + timedelta(days=1), time.min), zone)
    return Period(start=start, end=end)


class PeriodForm(forms.Form):
    """The picker. Bound to ``request.GET``; ``period()`` gives the chosen ``Period``."""

    period = forms.ChoiceField(label=_("Period"), choices=Preset.choices, required=False)
    since = forms.DateField(
        label=_("From"),
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    until = forms.DateField(
        label=_("To"),
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def __init__(self, *args: object, tenant: Tenant, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.zone = (
            zone_named(tenant.time_zone) if tenant.time_zone else timezone.get_default_timezone()
        )
        self.today = timezone.localtime(timezone.now(), self.zone).date()

    def _bounded(self, name: str) -> date | None:
        day = self.cleaned_data.get(name)
        if day is None:
            return None
        if day < EARLIEST or day > self.today + LATEST_AHEAD:
            raise forms.ValidationError(
                _("Choose a day between %(first)s and %(last)s.")
                % {"first": EARLIEST.isoformat(), "last": (self.today + LATEST_AHEAD).isoformat()},
                code="out_of_range",
            )
        return day

    def clean_since(self) -> date | None:
        return self._bounded("since")

    def clean_until(self) -> date | None:
        return self._bounded("until")

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        preset = data.get("period") or ""
        since, until = data.get("since"), data.get("until")
        # A range given without a preset (a list's "?since=…&until=…") is a custom range.
        if not preset and ("since" in self.data or "until" in self.data):
            preset = Preset.CUSTOM
        data["period"] = preset or DEFAULT_PRESET
        if data["period"] != Preset.CUSTOM or self.errors:
            return data
        if since is None and "since" not in self.errors:
            self.add_error("since", _("Give the first day of the range."))
        if until is None and "until" not in self.errors:
            self.add_error("until", _("Give the last day of the range."))
        if isinstance(since, date) and isinstance(until, date):
            if until < since:
                self.add_error("until", _("The last day is before the first day."))
            elif (until - since).days + 1 > MAX_DAYS:
                self.add_error(
                    "until",
                    _("A range is at most %(days)d days long.") % {"days": MAX_DAYS},
                )
        return data

    def days(self) -> tuple[date, date]:
        """The chosen first and last local day (call after ``is_valid()``)."""
        preset = self.cleaned_data["period"]
        if preset == Preset.CUSTOM:
            return self.cleaned_data["since"], self.cleaned_data["until"]
        return preset_days(preset, self.today)

    def period_chosen(self) -> Period:
        first, last = self.days()
        return period_of_days(first, last, self.zone)
