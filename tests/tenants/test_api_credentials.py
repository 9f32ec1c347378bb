from __future__ import annotations

import pytest
from django.test import Client

from tenants.models import Membership, Role
from tenants.scoping import ScopeError
from tests.factories import TenantFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.tenants.api_credential_urls")]


def test_api_credential_scopes_the_request_to_its_tenant(client: Client) -> None:
    UserFactory(tenant=TenantFactory(slug="acme"), roles=[Role.KITCHEN, Role.PACKER])
    UserFactory(tenant=TenantFactory(slug="other"), roles=[Role.KITCHEN])
    response = client.get("/count/", HTTP_X_TEST_TENANT="acme")
    assert response.json() == {"tenant": "acme", "memberships": 2}


def test_api_credential_of_a_deactivated_tenant_is_refused(client: Client) -> None:
    TenantFactory(slug="acme", is_active=False)
    assert client.get("/count/", HTTP_X_TEST_TENANT="acme").status_code == 403


def test_api_request_without_credential_is_refused(client: Client) -> None:
    assert client.get("/count/").status_code == 403


def test_scope_of_an_api_request_ends_with_the_request(client: Client) -> None:
    TenantFactory(slug="acme")
    client.get("/count/", HTTP_X_TEST_TENANT="acme")
    with pytest.raises(ScopeError):
        Membership.objects.count()
