"""The roles table on a user's page: its empty row offers no role until one is chosen, so
saving the page for another reason (deactivating, renaming) grants nothing."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from tenants.models import Membership, Role
from tenants.scoping import tenant_scope
from tests.factories import TenantFactory, UserFactory, verified_second_factor

pytestmark = pytest.mark.django_db


def _submitted_by_empty_row(html: str) -> str:
    """What a browser sends for the empty row's role: the selected option, else the first."""
    select = re.search(r'<select name="memberships-1-role".*?</select>', html, re.S)
    assert select is not None
    selected = re.findall(r'<option value="([^"]*)"[^>]*selected', select.group(0))
    return (selected or re.findall(r'<option value="([^"]*)"', select.group(0)))[0]


def test_saving_a_users_page_without_choosing_a_role_grants_no_role(client: Client) -> None:
    tenant = TenantFactory()
    admin = UserFactory(tenant=tenant, roles=[Role.TENANT_ADMIN])
    cook = UserFactory(tenant=tenant, roles=[Role.KITCHEN])
    client.force_login(admin)
    verified_second_factor(client, admin)
    url = reverse("admin:tenants_user_change", args=[cook.pk])
    with tenant_scope(tenant):
        kitchen = Membership.objects.get(user=cook)

    sent = _submitted_by_empty_row(client.get(url).content.decode())
    client.post(
        url,
        {
            "username": cook.username,
            "is_active": "on",
            "memberships-TOTAL_FORMS": "2",
            "memberships-INITIAL_FORMS": "1",
            "memberships-0-id": str(kitchen.pk),
            "memberships-0-user": str(cook.pk),
            "memberships-0-role": Role.KITCHEN.value,
            "memberships-1-id": "",
            "memberships-1-user": str(cook.pk),
            "memberships-1-role": sent,
        },
    )

    with tenant_scope(tenant):
        roles = list(Membership.objects.filter(user=cook).values_list("role", flat=True))
    assert (sent, roles) == ("", [Role.KITCHEN.value])
