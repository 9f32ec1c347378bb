"""Working hours: when a tenant's staff are expected to work, in the tenant's time zone
(``SupervisionSettings``). A reveal outside them is flagged on the dashboard and may raise
an alert. Hours that wrap midnight (22:00–06:00) are understood as such."""

from __future__ import annotations

from datetime import datetime, time

from django.db import IntegrityError, transaction

from audits.models import SupervisionSettings
from tenants.models import Tenant
from tenants.timezones import zone_named


def settings_for(tenant: Tenant) -> SupervisionSettings:
    """The tenant's supervision settings (inside its scope), created with the defaults on
    first use; two first uses at once make one row."""
    found = SupervisionSettings.objects.filter(tenant=tenant).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return SupervisionSettings.objects.create(tenant=tenant)
    except IntegrityError:
        return SupervisionSettings.objects.get(tenant=tenant)


def within_hours(start: time, end: time, local: time) -> bool:
    """Whether the local clock time ``local`` falls in [start, end); wraps past midnight
    when ``end <= start`` (start == end means around the clock)."""
    if start == end:
        return True
    if start < end:
        return start <= local < end
    return local >= start or local < end


def outside_working_hours(tenant: Tenant, settings: SupervisionSettings, when: datetime) -> bool:
    """Whether the aware time ``when`` is outside ``tenant``'s working hours, read in the
    tenant's time zone."""
    local = when.astimezone(zone_named(tenant.time_zone)).time()
    return not within_hours(settings.workday_start, settings.workday_end, local)
