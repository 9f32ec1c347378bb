"""Each tenant's time zone (issue 17, point 8): a valid IANA name, activated for the
tenant's requests and tasks and deactivated after them; the platform's zone otherwise."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from config.celery import app as celery_app
from tenants.models import Role, Tenant
from tenants.selectors import time_zone_of
from tenants.tasks import TenantTask
from tenants.timezones import COMMON_TIME_ZONES, is_time_zone, time_zone_choices
from tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db


@celery_app.task(base=TenantTask, name="tests.report_time_zone")
def report_time_zone(tenant: Tenant, token: str) -> None:
    """Test-only task: records the time zone its body ran in."""
    cache.set(f"test-task:{token}", timezone.get_current_timezone_name(), 60)


def _zone_error(value: str) -> list[str]:
    tenant = TenantFactory.build(slug="zone-check", name="Zone check", time_zone=value)
    with pytest.raises(ValidationError) as refused:
        tenant.full_clean()
    return refused.value.message_dict["time_zone"]


def test_a_new_tenant_works_in_shanghai_time() -> None:
    assert TenantFactory().time_zone == "Asia/Shanghai"


@pytest.mark.parametrize("value", ["Europe/Berlin", "UTC", "America/Argentina/Buenos_Aires"])
def test_an_iana_zone_is_accepted(value: str) -> None:
    TenantFactory.build(slug="zone-check", name="Zone check", time_zone=value).full_clean()


@pytest.mark.parametrize(
    "value", ["Mars/Olympus", "Berlin", "europe/berlin", "localtime", "../../etc/passwd", "+08:00"]
)
def test_a_name_that_is_not_a_zone_is_refused(value: str) -> None:
    assert _zone_error(value) == [
        f"“{value}” is not a time zone. Choose one such as Asia/Shanghai or Europe/Berlin."
    ]


def test_an_over_long_zone_is_refused() -> None:
    assert "Ensure this value has at most 64 characters (it has 65)." in _zone_error("A" * 65)


def test_every_common_zone_offered_is_a_zone() -> None:
    names = [name for _region, names in COMMON_TIME_ZONES for name in names]
    assert (len(names) == len(set(names)), [n for n in names if not is_time_zone(n)]) == (
        True,
        [],
    )


def test_a_valid_zone_that_is_not_common_is_offered_when_it_is_the_tenants() -> None:
    assert time_zone_choices("America/La_Paz")[0][0] == "America/La_Paz"


def test_a_stored_name_that_is_not_a_zone_falls_back_to_the_platforms_zone() -> None:
    tenant = TenantFactory()
    Tenant.objects.filter(pk=tenant.pk).update(time_zone="Mars/Olympus")  # bypasses validation
    tenant.refresh_from_db()
    assert (str(tenant.zone), str(time_zone_of(tenant.pk))) == (
        settings.TIME_ZONE,
        settings.TIME_ZONE,
    )


def test_a_tenants_request_runs_in_its_zone_and_the_zone_ends_with_it(client: Client) -> None:
    tenant = TenantFactory(time_zone="Asia/Kolkata")  # +05:30 all year
    client.force_login(UserFactory(tenant=tenant, roles=[Role.TENANT_ADMIN]))
    html = client.get(reverse("admin:tenants_tenant_settings")).content.decode()
    assert ('+05:30">' in html, timezone.get_current_timezone_name()) == (
        True,
        settings.TIME_ZONE,
    )


def test_a_tenant_task_runs_in_the_tenants_zone() -> None:
    token = str(uuid.uuid4())
    report_time_zone.apply(args=[TenantFactory(time_zone="America/New_York").pk, token])
    assert (cache.get(f"test-task:{token}"), timezone.get_current_timezone_name()) == (
        "America/New_York",
        settings.TIME_ZONE,
    )
