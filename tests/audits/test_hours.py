from datetime import UTC, datetime, time

import pytest

from audits.hours import outside_working_hours, settings_for, within_hours
from tenants.scoping import tenant_scope
from tests.factories import TenantFactory


@pytest.mark.parametrize(
    ("start", "end", "local", "expected"),
    [
        (time(7), time(23), time(6, 59), False),
        (time(7), time(23), time(7), True),
        (time(7), time(23), time(23), False),
        (time(22), time(6), time(23, 30), True),
        (time(22), time(6), time(5, 59), True),
        (time(22), time(6), time(12), False),
        (time(0), time(0), time(3), True),
    ],
)
def test_working_hours_window_wraps_past_midnight(start, end, local, expected):
    assert within_hours(start, end, local) is expected


@pytest.mark.django_db
def test_working_hours_are_read_in_the_tenants_time_zone():
    tenant = TenantFactory(time_zone="Asia/Shanghai")
    with tenant_scope(tenant):
        settings = settings_for(tenant)
        # 23:30 UTC is 07:30 in Shanghai: inside the default 07:00-23:00.
        assert (
            outside_working_hours(tenant, settings, datetime(2026, 1, 1, 23, 30, tzinfo=UTC))
            is False
        )
        # 16:00 UTC is 00:00 in Shanghai: outside.
        assert (
            outside_working_hours(tenant, settings, datetime(2026, 1, 1, 16, 0, tzinfo=UTC)) is True
        )


@pytest.mark.django_db
def test_settings_are_created_once_with_the_defaults():
    tenant = TenantFactory()
    with tenant_scope(tenant):
        first, second = settings_for(tenant), settings_for(tenant)
    assert first.pk == second.pk
    assert (first.workday_start, first.workday_end, first.reveal_burst_count) == (
        time(7),
        time(23),
        50,
    )
