"""The anomaly list and page name people by username, never by a stored actor label."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from incidents.models import OrderAnomaly
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")


def test_reporter_is_shown_by_username(client: Client) -> None:
    tenant = TenantFactory()
    rider_user = UserFactory(tenant=tenant, username="rider-zhao", roles=[Role.RIDER])
    agent = UserFactory(tenant=tenant, username="cs-li", roles=[Role.CUSTOMER_SERVICE])
    order = OrderFactory(tenant=tenant)
    with tenant_scope(tenant):
        anomaly = OrderAnomaly.objects.create(
            tenant=tenant, order=order, kind="seal_mismatch", reported_by=f"user:{rider_user.pk}"
        )
    client.force_login(agent)
    listing = client.get(reverse("admin:incidents_orderanomaly_changelist")).content.decode()
    page = client.get(
        reverse("admin:incidents_orderanomaly_change", args=[anomaly.pk])
    ).content.decode()
    assert ("rider-zhao" in listing, "rider-zhao" in page) == (True, True)
    assert f"user:{rider_user.pk}" not in listing + page


def test_the_sidebar_counts_open_anomalies_beside_the_order_desk(client: Client) -> None:
    tenant = TenantFactory()
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    with tenant_scope(tenant):
        for kind in ("seal_mismatch", "lost"):
            OrderAnomaly.objects.create(
                tenant=tenant, order=OrderFactory(tenant=tenant), kind=kind, reported_by="system:t"
            )
    other = TenantFactory()
    with tenant_scope(other):
        OrderAnomaly.objects.create(
            tenant=other, order=OrderFactory(tenant=other), kind="lost", reported_by="system:t"
        )
    client.force_login(agent)
    html = client.get(reverse("admin:orders_order_desk"), HTTP_ACCEPT_LANGUAGE="en")
    link = f'href="{reverse("admin:orders_order_desk")}"'
    nav = html.content.decode().split(link, 1)[1].split("</a>", 1)[0]
    assert re.search(r">\s*2\s*</span>", nav), nav
