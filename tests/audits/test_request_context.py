from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from audits.models import AuditEvent
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_events_from_a_request_record_its_id_and_client_ip(client: Client) -> None:
    admin = UserFactory(roles=[Role.TENANT_ADMIN])
    colleague = UserFactory(tenant=admin.tenant)
    client.force_login(admin)
    client.post(
        reverse("admin:tenants_membership_add"),
        {"user": colleague.pk, "role": Role.DISPATCHER},
        HTTP_X_REQUEST_ID="req-42",
    )
    with tenant_scope(admin.tenant):
        event = AuditEvent.objects.get(
            action="role.granted", object_id__isnull=False, actor=f"user:{admin.pk}"
        )
    assert (event.request_id, event.ip, event.object_type) == (
        "req-42",
        "127.0.0.1",
        "tenants.membership",
    )


def test_responses_carry_a_request_id(client: Client) -> None:
    assert len(client.get("/admin/login/").headers["X-Request-ID"]) == 32


@pytest.mark.parametrize("supplied", ["", "x" * 65, "bad id!", "a\nb"])
def test_malformed_request_ids_are_replaced(client: Client, supplied: str) -> None:
    response = client.get("/admin/login/", HTTP_X_REQUEST_ID=supplied)
    assert response.headers["X-Request-ID"] != supplied
