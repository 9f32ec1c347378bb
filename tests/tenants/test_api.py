from __future__ import annotations

import pytest
from django.test import Client

from tenants.models import Role
from tests.factories import OperatorFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_me_names_the_callers_tenant_and_roles(client: Client) -> None:
    user = UserFactory(
        tenant=TenantFactory(slug="acme", name="Acme"), roles=[Role.DISPATCHER, Role.SUPERVISOR]
    )
    client.force_login(user)
    assert client.get("/api/v1/me/").json() == {
        "username": user.username,
        "tenant": {"slug": "acme", "name": "Acme"},
        "roles": ["dispatcher", "supervisor"],
    }


def test_anonymous_caller_is_asked_to_authenticate(client: Client) -> None:
    response = client.get("/api/v1/me/")
    assert (response.status_code, response.headers["WWW-Authenticate"]) == (
        401,
        'Bearer realm="api"',
    )


def test_platform_operator_without_tenant_is_refused_by_the_api(client: Client) -> None:
    client.force_login(OperatorFactory())
    response = client.get("/api/v1/me/", HTTP_ACCEPT_LANGUAGE="en")
    assert (response.status_code, response.json()) == (
        403,
        {"detail": "This API is for staff and integrations of a tenant."},
    )


def test_user_of_deactivated_tenant_is_logged_out_of_the_api(client: Client) -> None:
    client.force_login(UserFactory(tenant=TenantFactory(is_active=False), roles=[Role.KITCHEN]))
    assert client.get("/api/v1/me/").status_code == 401


def test_openapi_schema_is_published_to_staff(client: Client) -> None:
    client.force_login(UserFactory(roles=[Role.DISPATCHER]))
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert "/api/v1/me/" in response.json()["paths"]


def test_interactive_api_docs_are_served_to_staff(client: Client) -> None:
    client.force_login(UserFactory(roles=[Role.DISPATCHER]))
    assert client.get("/api/docs/").status_code == 200
