"""A GET of a rider page only reads: no row written, no audit event — also on a rider's
first visit, whose profile is created when they sign the agreement (a POST)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audits.models import AuditEvent
from riders.agreements import publish_agreement
from riders.models import AgreementSignature, Rider
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.factories import PASSWORD, TenantFactory, UserFactory
from tests.riders.conftest import SYSTEM, Delivery

pytestmark = pytest.mark.django_db(databases="__all__")

WRITES = ("INSERT", "UPDATE", "DELETE")


def _get_writes(client: Client, url: str) -> tuple[int, list[str]]:
    """(status, the SQL writes the GET made)."""
    with CaptureQueriesContext(connections["default"]) as queries:
        response = client.get(url)
    writes = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(WRITES)]
    return response.status_code, writes


def _events(tenant: Any) -> int:
    with tenant_scope(tenant):
        return AuditEvent.objects.count()


def test_a_first_visit_writes_nothing_and_still_reaches_the_agreement(client: Client) -> None:
    tenant = TenantFactory()
    publish_agreement(tenant=tenant, actor=SYSTEM, text_zh="我承诺保密。", text_en="I promise.")
    user = UserFactory(tenant=tenant, roles=[Role.RIDER])
    client.post(reverse("riders:login"), {"username": user.username, "password": PASSWORD})
    events = _events(tenant)
    home = _get_writes(client, reverse("riders:home"))
    page = _get_writes(client, reverse("riders:agreement"))
    with tenant_scope(tenant):
        profiles = Rider.objects.filter(user=user).count()
    assert (home, page, profiles, _events(tenant)) == (
        (302, []),
        (200, []),
        0,
        events,
    )


def test_signing_creates_the_profile(client: Client) -> None:
    tenant = TenantFactory()
    publish_agreement(tenant=tenant, actor=SYSTEM, text_zh="我承诺保密。", text_en="I promise.")
    user = UserFactory(tenant=tenant, roles=[Role.RIDER])
    client.force_login(user)
    response = client.post(reverse("riders:agreement"), {"agree": "yes", "version": "1"})
    with tenant_scope(tenant):
        signed = AgreementSignature.objects.filter(rider__user=user).count()
        actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert (response.status_code, response.url, signed) == (302, reverse("riders:home"), 1)
    assert {"riders.rider_created", "riders.agreement_signed"} <= set(actions)


@pytest.mark.parametrize("page", ["home", "agreement", "order"])
def test_a_signed_riders_pages_write_nothing(client: Client, delivery: Delivery, page: str) -> None:
    client.force_login(delivery.rider.user)
    url = (
        reverse("riders:order", args=[delivery.order.pk])
        if page == "order"
        else reverse(f"riders:{page}")
    )
    events = _events(delivery.tenant)
    status, writes = _get_writes(client, url)
    assert (status, writes, _events(delivery.tenant)) == (
        302 if page == "agreement" else 200,
        [],
        events,
    )


@pytest.mark.parametrize("version", ["abc", "", "1.5"])
def test_a_bad_agreement_version_is_a_400_with_a_message(client: Client, version: str) -> None:
    tenant = TenantFactory()
    publish_agreement(tenant=tenant, actor=SYSTEM, text_zh="我承诺保密。", text_en="I promise.")
    user = UserFactory(tenant=tenant, roles=[Role.RIDER])
    client.force_login(user)
    response = client.post(
        reverse("riders:agreement"),
        {"agree": "yes", "version": version},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    with tenant_scope(tenant):
        signed = AgreementSignature.objects.filter(rider__user=user).exists()
    assert (
        response.status_code,
        "This form was not sent correctly" in response.content.decode(),
        signed,
    ) == (400, True, False)
