"""Each tenant's time zone: what a valid zone is, the common ones offered in the settings
screen, and turning a stored name into a ``ZoneInfo``.

A request of a tenant's staff or rider runs with the tenant's zone activated
(``tenants.middleware``), and so does a tenant's Celery task (``tenants.tasks.TenantTask``):
templates, the admin and ``timezone.localtime()`` then show the tenant's local time. The
platform operator, who has no tenant, sees ``settings.TIME_ZONE``.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

DEFAULT_TIME_ZONE = "Asia/Shanghai"

# Names in the time zone database that are not a place: the server's own zone, and tzdata's
# placeholder. A tenant's zone is always a real place (or UTC).
_NOT_A_PLACE = frozenset({"localtime", "Factory", "posixrules", "posix/localtime"})

# Offered in the settings screen, by region; any other valid IANA name is accepted by the
# model (a platform operator may set one), and then offered too.
COMMON_TIME_ZONES: tuple[tuple[Any, tuple[str, ...]], ...] = (
    (
        _("Asia"),
        (
            "Asia/Shanghai",
            "Asia/Hong_Kong",
            "Asia/Macau",
            "Asia/Taipei",
            "Asia/Tokyo",
            "Asia/Seoul",
            "Asia/Singapore",
            "Asia/Kuala_Lumpur",
            "Asia/Bangkok",
            "Asia/Ho_Chi_Minh",
            "Asia/Jakarta",
            "Asia/Manila",
            "Asia/Kolkata",
            "Asia/Dhaka",
            "Asia/Karachi",
            "Asia/Dubai",
            "Asia/Riyadh",
        ),
    ),
    (
        _("Europe"),
        (
            "Europe/London",
            "Europe/Dublin",
            "Europe/Lisbon",
            "Europe/Paris",
            "Europe/Berlin",
            "Europe/Amsterdam",
            "Europe/Madrid",
            "Europe/Rome",
            "Europe/Zurich",
            "Europe/Stockholm",
            "Europe/Warsaw",
            "Europe/Athens",
            "Europe/Istanbul",
            "Europe/Moscow",
        ),
    ),
    (
        _("Americas"),
        (
            "America/New_York",
            "America/Chicago",
            "America/Denver",
            "America/Los_Angeles",
            "America/Toronto",
            "America/Vancouver",
            "America/Mexico_City",
            "America/Bogota",
            "America/Lima",
            "America/Santiago",
            "America/Sao_Paulo",
            "America/Argentina/Buenos_Aires",
        ),
    ),
    (
        _("Africa"),
        ("Africa/Cairo", "Africa/Lagos", "Africa/Nairobi", "Africa/Johannesburg"),
    ),
    (
        _("Oceania"),
        (
            "Australia/Perth",
            "Australia/Sydney",
            "Australia/Melbourne",
            "Pacific/Auckland",
            "Pacific/Honolulu",
        ),
    ),
    (_("Universal"), ("UTC",)),
)


@lru_cache(maxsize=1)
def _known_time_zones() -> frozenset[str]:
    # Reads the time zone database from disk: once per process.
    return frozenset(zoneinfo.available_timezones()) - _NOT_A_PLACE


def is_time_zone(name: object) -> bool:
    return isinstance(name, str) and name in _known_time_zones()


def validate_time_zone(value: object) -> None:
    """A model and form validator: ``value`` must name a place in the IANA time zone
    database (``Asia/Shanghai``, ``Europe/Berlin``, ``UTC``)."""
    if not is_time_zone(value):
        raise ValidationError(
            _("“%(value)s” is not a time zone. Choose one such as Asia/Shanghai or Europe/Berlin."),
            code="invalid_time_zone",
            params={"value": value},
        )


def zone_named(name: str) -> zoneinfo.ZoneInfo:
    """The zone called ``name``; the platform's zone (``settings.TIME_ZONE``) if the name is
    not a zone, so that a bad stored value shows the platform's times rather than a 500."""
    if is_time_zone(name):
        return zoneinfo.ZoneInfo(name)
    return timezone.get_default_timezone()


def utc_offset_label(name: str, *, at: datetime | None = None) -> str:
    """``UTC+08:00``: the zone's offset now (or at ``at``), daylight saving included."""
    moment = (at or timezone.now()).astimezone(zoneinfo.ZoneInfo(name))
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}"


def time_zone_choices(current: str = "") -> list[tuple[Any, Any]]:
    """The settings screen's choices, grouped by region, each with its offset now; the
    tenant's current zone is offered even when it is not a common one."""
    groups: list[tuple[Any, Any]] = [
        (region, [(name, f"{name} ({utc_offset_label(name)})") for name in names])
        for region, names in COMMON_TIME_ZONES
    ]
    common = {name for _region, names in COMMON_TIME_ZONES for name in names}
    if current and current not in common and is_time_zone(current):
        groups.insert(0, (current, f"{current} ({utc_offset_label(current)})"))
    return groups
