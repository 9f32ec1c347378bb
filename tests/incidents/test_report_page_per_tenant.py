"""A tenant's own public report page (issue 18): its name on the page, its orders only, the
same answer whether or not the order code exists; and the tenant's own deadline for
answering, set on the tenant settings page (audited)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from audits.models import AuditEvent
from incidents.models import PrivacyReport, ReportChallenge
from incidents.tasks import match_report_challenge
from privacy.sms import MemorySmsBackend, sms_backend
from tenants.models import Role, Tenant
from tenants.scoping import tenant_scope
from tenants.services import change_tenant_settings
from tests.factories import OrderFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture(autouse=True)
def outbox(settings: Any) -> Iterator[list[tuple[str, str]]]:
    settings.BAOMI_SMS_BACKEND = "privacy.sms.MemorySmsBackend"
    sms_backend.cache_clear()
    MemorySmsBackend.outbox.clear()
    yield MemorySmsBackend.outbox
    sms_backend.cache_clear()


@pytest.fixture
def tenant() -> Tenant:
    return TenantFactory(slug="shanghai-eats", name="Shanghai Eats")


def _url(slug: str) -> str:
    return reverse("incidents:report-for", args=[slug])


def _start(client: Client, slug: str, code: str) -> Any:
    response = client.post(_url(slug), {"order_code": code}, HTTP_ACCEPT_LANGUAGE="en")
    challenge = client.session.get("baomi_report_challenge")
    if challenge:
        match_report_challenge.apply(args=[challenge])
    return response


def test_the_tenants_page_shows_its_name_and_deadline(tenant: Tenant) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(privacy_report_days=7)
    page = Client().get(_url("shanghai-eats"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    platform = Client().get(reverse("incidents:report"), HTTP_ACCEPT_LANGUAGE="en")
    assert (
        "To Shanghai Eats, through Baomi." in page,
        "We answer within 7 days of receiving a report." in page,
        "Shanghai Eats" in platform.content.decode(),
    ) == (True, True, False)


def test_an_unknown_or_inactive_tenant_is_404() -> None:
    TenantFactory(slug="closed-shop", is_active=False)
    client = Client()
    assert (
        client.get(_url("no-such-shop")).status_code,
        client.get(_url("closed-shop")).status_code,
    ) == (404, 404)


def test_the_answer_is_the_same_whether_or_not_the_code_exists(
    tenant: Tenant, outbox: list
) -> None:
    order = OrderFactory(tenant=tenant)
    real, fake = Client(), Client()
    matched = _start(real, "shanghai-eats", order.code)
    unmatched = _start(fake, "shanghai-eats", "ZZZZZ-ZZZZZ")
    pages = [
        c.get(reverse("incidents:report-verify"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
        for c in (real, fake)
    ]
    strip = [re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", p) for p in pages]
    assert (
        (matched.status_code, matched["Location"]),
        (unmatched.status_code, unmatched["Location"]),
        strip[0] == strip[1],
        "To Shanghai Eats, through Baomi." in pages[0],
        len(outbox),
    ) == (
        (302, reverse("incidents:report-verify")),
        (302, reverse("incidents:report-verify")),
        True,
        True,
        1,
    )


def test_another_tenants_order_is_not_matched_from_this_tenants_page(
    tenant: Tenant, outbox: list
) -> None:
    other = OrderFactory(tenant=TenantFactory())
    response = _start(Client(), "shanghai-eats", other.code)
    challenge = ReportChallenge.objects.get()
    assert (response.status_code, challenge.tenant_id, challenge.brand_id, outbox) == (
        302,
        None,
        tenant.pk,
        [],
    )


def test_a_report_filed_is_due_after_the_tenants_days(
    tenant: Tenant, outbox: list, settings: Any
) -> None:
    settings.BAOMI_PRIVACY_REPORT_DAYS = 15
    Tenant.objects.filter(pk=tenant.pk).update(privacy_report_days=5)
    order = OrderFactory(tenant=tenant)
    client = Client()
    _start(client, "shanghai-eats", order.code)
    code = re.search(r"\b(\d{6})\b", outbox[-1][1]).group(1)
    client.post(
        reverse("incidents:report-verify"), {"code": code, "kind": "label", "description": ""}
    )
    with tenant_scope(tenant):
        report = PrivacyReport.objects.get()
    assert report.due_at - report.received_at == pytest.approx(
        timedelta(days=5), abs=timedelta(seconds=5)
    )


def test_the_settings_page_sets_the_days_audited(tenant: Tenant) -> None:
    admin = UserFactory(tenant=tenant, roles=[Role.TENANT_ADMIN])
    client = Client()
    client.force_login(admin)
    url = reverse("admin:tenants_tenant_settings")
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    bad = client.post(
        url, {"time_zone": tenant.time_zone, "privacy_report_days": "0"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    saved = client.post(url, {"time_zone": tenant.time_zone, "privacy_report_days": "10"})
    tenant.refresh_from_db()
    with tenant_scope(tenant):
        [event] = AuditEvent.objects.filter(action="tenant.settings_changed")
    assert (
        "Days to answer a customer&#x27;s privacy report" in page
        or "Days to answer a customer's privacy report" in page,
        bad.status_code,
        saved.status_code,
        tenant.privacy_report_days,
        event.details,
    ) == (
        True,
        200,
        302,
        10,
        {"fields": ["privacy_report_days"], "privacy_report_days": 10},
    )


def test_the_service_refuses_days_out_of_range(tenant: Tenant) -> None:
    admin = UserFactory(tenant=tenant, roles=[Role.TENANT_ADMIN])
    with pytest.raises(ValidationError):
        change_tenant_settings(
            tenant=tenant,
            time_zone=tenant.time_zone,
            send_pin_by_sms=False,
            privacy_report_days=61,
            actor=admin,
        )
