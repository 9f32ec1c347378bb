"""The tenant settings page (issue 17, points 4 and 8): a tenant administrator changes their
own tenant's time zone and whether the delivery PIN is texted at intake; the change is
post/redirect/get and audited; nobody else reaches it, and no other tenant is reachable."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse

from audits.models import AuditEvent
from tenants.actors import actor_label
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tenants.services import change_tenant_settings
from tests.factories import OperatorFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/admin/tenants/tenant/settings/"
BACK_OFFICE_ROLES_BUT_ADMIN = [r for r in Role if r not in (Role.TENANT_ADMIN, Role.RIDER)]


@pytest.fixture
def tenant() -> Tenant:
    return TenantFactory(slug="shanghai-eats", name="Shanghai Eats")


@pytest.fixture
def tenant_admin(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.TENANT_ADMIN])


@pytest.fixture
def admin_client(client: Client, tenant_admin: User) -> Client:
    client.force_login(tenant_admin)
    return client


def _events(tenant: Tenant) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(action="tenant.settings_changed").order_by("pk"))


def _settings(tenant: Tenant) -> tuple[str, bool]:
    tenant.refresh_from_db()
    return tenant.time_zone, tenant.send_pin_by_sms


def _post(client: Client, **data: Any) -> Any:
    return client.post(URL, data, HTTP_ACCEPT_LANGUAGE="en")


def test_the_settings_url_is_the_admins() -> None:
    assert reverse("admin:tenants_tenant_settings") == URL


def test_the_tenant_admin_sees_their_settings_with_help(admin_client: Client) -> None:
    response = admin_client.get(URL, HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert (
        response.status_code,
        "Shanghai Eats" in html,
        '<option value="Asia/Shanghai" selected>Asia/Shanghai (UTC+08:00)</option>' in html,
        "Send the delivery PIN to the customer by SMS at intake" in html,
        "Needs a configured SMS gateway." in html,
        f'href="{URL}"' in html,  # in the sidebar
    ) == (200, True, True, True, True, True)


def test_changing_zone_and_sms_saves_redirects_and_is_audited(
    admin_client: Client, tenant: Tenant, tenant_admin: User
) -> None:
    response = _post(admin_client, time_zone="Europe/Berlin", send_pin_by_sms="on")
    events = _events(tenant)
    assert (
        response.status_code,
        response["Location"],
        _settings(tenant),
        [(e.actor, e.object_type, e.object_id, e.details) for e in events],
    ) == (
        302,
        URL,
        ("Europe/Berlin", True),
        [
            (
                actor_label(tenant_admin),
                "tenants.tenant",
                str(tenant.pk),
                {
                    "fields": ["time_zone", "send_pin_by_sms"],
                    "time_zone": "Europe/Berlin",
                    "send_pin_by_sms": True,
                },
            )
        ],
    )


def test_after_the_redirect_the_page_says_saved_and_shows_the_new_zone(
    admin_client: Client,
) -> None:
    _post(admin_client, time_zone="Europe/Berlin", send_pin_by_sms="on")
    html = admin_client.get(URL, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert (
        "Settings saved: Time zone, Send the delivery PIN to the customer by SMS at intake."
        in html,
        "Local time now in Europe/Berlin:" in html,
        '<option value="Europe/Berlin" selected>' in html,
    ) == (True, True, True)


def test_reloading_the_page_after_saving_writes_nothing(
    admin_client: Client, tenant: Tenant
) -> None:
    response = _post(admin_client, time_zone="Europe/Berlin")
    admin_client.get(response["Location"])
    admin_client.get(response["Location"])
    assert len(_events(tenant)) == 1


def test_only_the_changed_field_is_audited(admin_client: Client, tenant: Tenant) -> None:
    _post(admin_client, time_zone="Asia/Shanghai", send_pin_by_sms="on")
    assert [e.details for e in _events(tenant)] == [
        {"fields": ["send_pin_by_sms"], "send_pin_by_sms": True}
    ]


def test_turning_the_sms_off_is_saved(admin_client: Client, tenant: Tenant) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(send_pin_by_sms=True)
    _post(admin_client, time_zone="Asia/Shanghai")  # an unticked box is not posted
    assert _settings(tenant) == ("Asia/Shanghai", False)


def test_saving_unchanged_settings_says_so_and_writes_no_event(
    admin_client: Client, tenant: Tenant
) -> None:
    response = _post(admin_client, time_zone="Asia/Shanghai")
    html = admin_client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert (response.status_code, "Nothing changed." in html, _events(tenant)) == (302, True, [])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "Mars/Olympus",
            "This is not one of the time zones offered here. Choose one from the list.",
        ),
        ("localtime", "This is not one of the time zones offered here. Choose one from the list."),
        ("Z" * 5000, "This is not one of the time zones offered here. Choose one from the list."),
        ("", "Choose the tenant&#x27;s time zone."),
    ],
)
def test_a_bad_zone_is_a_clear_error_and_changes_nothing(
    admin_client: Client, tenant: Tenant, value: str, message: str
) -> None:
    response = _post(admin_client, time_zone=value, send_pin_by_sms="on")
    html = response.content.decode()
    assert (response.status_code, message in html, _settings(tenant), _events(tenant)) == (
        200,
        True,
        ("Asia/Shanghai", False),
        [],
    )


def test_after_a_refused_zone_the_select_still_shows_the_tenants_zone(
    admin_client: Client, tenant: Tenant
) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(time_zone="Europe/Berlin")
    html = _post(admin_client, time_zone="Mars/Olympus").content.decode()
    assert '<option value="Europe/Berlin" selected>' in html


def test_platform_fields_and_another_tenant_posted_alongside_are_ignored(
    admin_client: Client, tenant: Tenant
) -> None:
    other = TenantFactory(slug="berlin-bites", name="Berlin Bites")
    _post(
        admin_client,
        time_zone="Europe/Berlin",
        slug="renamed",
        name="Renamed",
        is_active="",
        riders_need_two_factor="on",
        tenant=other.pk,
        id=other.pk,
    )
    tenant.refresh_from_db()
    other.refresh_from_db()
    assert (
        (tenant.slug, tenant.name, tenant.is_active, tenant.riders_need_two_factor),
        tenant.time_zone,
        (other.time_zone, other.slug),
    ) == (
        ("shanghai-eats", "Shanghai Eats", True, False),
        "Europe/Berlin",
        ("Asia/Shanghai", "berlin-bites"),
    )


@pytest.mark.parametrize("view", ["change", "history", "delete"])
def test_another_tenants_row_is_a_404_for_a_tenant_admin(admin_client: Client, view: str) -> None:
    other = TenantFactory(slug="berlin-bites")
    url = reverse(f"admin:tenants_tenant_{view}", args=[other.pk])
    assert admin_client.get(url).status_code == 404


def test_posting_to_another_tenants_row_is_a_404_and_changes_nothing(
    admin_client: Client,
) -> None:
    other = TenantFactory(slug="berlin-bites")
    url = reverse("admin:tenants_tenant_change", args=[other.pk])
    response = admin_client.post(url, {"time_zone": "Europe/Berlin", "send_pin_by_sms": "on"})
    assert (response.status_code, _settings(other)) == (404, ("Asia/Shanghai", False))


def test_the_own_tenants_row_leads_to_the_settings(admin_client: Client, tenant: Tenant) -> None:
    response = admin_client.get(reverse("admin:tenants_tenant_change", args=[tenant.pk]))
    assert (response.status_code, response["Location"]) == (302, URL)


@pytest.mark.parametrize("role", BACK_OFFICE_ROLES_BUT_ADMIN)
def test_other_back_office_roles_are_refused(client: Client, tenant: Tenant, role: Role) -> None:
    client.force_login(UserFactory(tenant=tenant, roles=[role]))
    shown = client.get(URL, HTTP_ACCEPT_LANGUAGE="en")
    posted = _post(client, time_zone="Europe/Berlin", send_pin_by_sms="on")
    sidebar = client.get(reverse("admin:index"), follow=True).content.decode()
    assert (
        shown.status_code,
        posted.status_code,
        _settings(tenant),
        f'href="{URL}"' in sidebar,
    ) == (
        403,
        403,
        ("Asia/Shanghai", False),
        False,
    )


def test_a_rider_is_sent_to_log_in(client: Client, tenant: Tenant) -> None:
    client.force_login(UserFactory(tenant=tenant, roles=[Role.RIDER]))
    response = _post(client, time_zone="Europe/Berlin")
    assert (response.status_code, response["Location"].startswith("/admin/login/")) == (302, True)


def test_the_platform_operator_has_no_tenant_settings_page(client: Client) -> None:
    client.force_login(OperatorFactory())
    assert client.get(URL).status_code == 404


def test_the_platform_operator_still_edits_a_tenants_zone_in_the_tenant_list(
    client: Client, tenant: Tenant
) -> None:
    client.force_login(OperatorFactory())
    url = reverse("admin:tenants_tenant_change", args=[tenant.pk])
    response = client.get(url)
    assert (response.status_code, 'name="time_zone"' in response.content.decode()) == (200, True)


def test_the_service_refuses_an_admin_of_another_tenant(tenant: Tenant) -> None:
    outsider = UserFactory(tenant=TenantFactory(slug="berlin-bites"), roles=[Role.TENANT_ADMIN])
    with pytest.raises(PermissionDenied):
        change_tenant_settings(
            tenant=tenant, time_zone="Europe/Berlin", send_pin_by_sms=True, actor=outsider
        )


def test_the_training_grace_period_is_set_bounded_and_audited(
    admin_client: Client, tenant: Tenant
) -> None:
    """Issue 19: the days the training gates only warn after a new version (default 14)."""
    assert tenant.training_grace_days == 14
    zone = tenant.time_zone
    refused = _post(admin_client, time_zone=zone, training_grace_days="91")
    assert refused.status_code == 200
    assert "training_grace_days" in refused.context["form"].errors
    saved = _post(admin_client, time_zone=zone, training_grace_days="30")
    tenant.refresh_from_db()
    assert (saved.status_code, tenant.training_grace_days) == (302, 30)
    assert _events(tenant)[-1].details == {
        "fields": ["training_grace_days"],
        "training_grace_days": 30,
    }
    _post(admin_client, time_zone=zone)  # left empty: kept
    tenant.refresh_from_db()
    assert (tenant.training_grace_days, len(_events(tenant))) == (30, 1)
