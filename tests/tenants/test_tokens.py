from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from tenants.models import IntegrationToken, Role
from tenants.scoping import tenant_scope
from tenants.services import authenticate_api_token
from tests.factories import IntegrationTokenFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")


def test_create_api_token_prints_a_working_token_once() -> None:
    tenant = TenantFactory(slug="acme")
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", "--tenant", "acme", "--name", "POS", stdout=out, stderr=err)
    raw = out.getvalue().strip()
    token = authenticate_api_token(raw)
    assert (
        token is not None and token.tenant_id == tenant.pk,
        "shown only now" in err.getvalue(),
    ) == (True, True)


def test_only_a_keyed_hash_of_the_token_is_stored() -> None:
    token = IntegrationTokenFactory()
    with tenant_scope(token.tenant):
        stored = IntegrationToken.objects.values_list("token_hash", "prefix").get()
    assert (token.raw in stored[0], len(stored[0]), token.raw.startswith(stored[1])) == (
        False,
        64,
        True,
    )


def test_tokens_with_underscores_in_their_secret_still_authenticate() -> None:
    tokens = [IntegrationTokenFactory() for _ in range(20)]
    assert all(authenticate_api_token(t.raw) is not None for t in tokens)


def test_a_token_names_its_tenant_and_cannot_be_used_for_another() -> None:
    token = IntegrationTokenFactory()
    other = TenantFactory()
    forged = re.sub(r"^bmt_\d+_", f"bmt_{other.pk}_", token.raw)
    assert authenticate_api_token(forged) is None


def test_tenant_admin_creates_a_token_in_the_admin_and_sees_it_once(client: Client) -> None:
    admin = UserFactory(roles=[Role.TENANT_ADMIN])
    client.force_login(admin)
    response = client.post(
        reverse("admin:tenants_integrationtoken_add"), {"name": "POS"}, follow=True
    )
    raw = re.search(r'id="api-token"[^>]*>([^<]+)<', response.content.decode()).group(1)
    listing = client.get(reverse("admin:tenants_integrationtoken_changelist")).content.decode()
    assert (
        authenticate_api_token(raw).tenant_id,
        raw in listing,
        "no-store" in response["Cache-Control"],
    ) == (
        admin.tenant_id,
        False,
        True,
    )


def test_the_new_token_page_is_a_redirect_and_a_reload_shows_nothing_nor_creates_one(
    client: Client,
) -> None:
    admin = UserFactory(roles=[Role.TENANT_ADMIN])
    client.force_login(admin)
    posted = client.post(reverse("admin:tenants_integrationtoken_add"), {"name": "POS"})
    with tenant_scope(admin.tenant):
        token = IntegrationToken.objects.get()
    created = reverse("admin:tenants_integrationtoken_created", args=[token.pk])
    assert (posted.status_code, posted["Location"]) == (302, created)
    first = client.get(created).content.decode()
    again = client.get(created).content.decode()  # the reload
    raw = re.search(r'id="api-token"[^>]*>([^<]+)<', first).group(1)
    with tenant_scope(admin.tenant):
        count = IntegrationToken.objects.count()
    assert (
        authenticate_api_token(raw).pk,
        raw in again,
        'id="api-token-shown"' in again,
        count,
    ) == (token.pk, False, True, 1)


def test_another_tenants_new_token_page_is_a_404_and_other_roles_get_a_403(
    client: Client,
) -> None:
    theirs = IntegrationTokenFactory()
    client.force_login(UserFactory(roles=[Role.TENANT_ADMIN]))
    url = reverse("admin:tenants_integrationtoken_created", args=[theirs.pk])
    assert client.get(url).status_code == 404
    client.force_login(UserFactory(tenant=theirs.tenant, roles=[Role.DISPATCHER]))
    assert client.get(url).status_code == 403


def test_the_token_list_and_page_name_their_creator_by_username(client: Client) -> None:
    admin = UserFactory(roles=[Role.TENANT_ADMIN], username="amy-admin")
    client.force_login(admin)
    client.post(reverse("admin:tenants_integrationtoken_add"), {"name": "POS"})
    # Another admin looks (the viewer's own name is in every page's user menu).
    client.force_login(UserFactory(tenant=admin.tenant, roles=[Role.TENANT_ADMIN]))
    listing = client.get(reverse("admin:tenants_integrationtoken_changelist")).content.decode()
    assert "amy-admin" in listing and f"user:{admin.pk}" not in listing
    with tenant_scope(admin.tenant):
        token = IntegrationToken.objects.get(name="POS")
    page = client.get(
        reverse("admin:tenants_integrationtoken_change", args=[token.pk])
    ).content.decode()
    assert "amy-admin" in page and f"user:{admin.pk}" not in page


def test_tenant_admin_revokes_tokens_in_the_admin(client: Client) -> None:
    token = IntegrationTokenFactory()
    client.force_login(UserFactory(tenant=token.tenant, roles=[Role.TENANT_ADMIN]))
    client.post(
        reverse("admin:tenants_integrationtoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    assert authenticate_api_token(token.raw) is None


@pytest.mark.parametrize("role", [r for r in Role if r not in (Role.TENANT_ADMIN, Role.RIDER)])
def test_only_tenant_admins_manage_tokens(client: Client, role: Role) -> None:
    client.force_login(UserFactory(roles=[role]))
    assert client.get(reverse("admin:tenants_integrationtoken_add")).status_code == 403


def test_riders_are_sent_to_the_login_page_instead(client: Client) -> None:
    client.force_login(UserFactory(roles=[Role.RIDER]))
    assert client.get(reverse("admin:tenants_integrationtoken_add")).status_code == 302


def _header(html: str) -> list[str]:
    """The parts of the page's header (the breadcrumb in its h1), as shown."""
    h1 = re.search(r'<h1 class="overflow-hidden[^"]*">(.*?)</h1>', html, re.S)
    assert h1, "no header"
    return [
        re.sub(r"\s+", " ", text).strip() for text in re.findall(r"<a [^>]*>(.*?)</a", h1[1], re.S)
    ]


def test_the_page_header_shows_an_objects_name_as_it_was_typed(client: Client) -> None:
    """unfold capitalised every part of the header: a token's or a user's own name is
    shown as typed, the section and the model names still capitalised."""
    admin = UserFactory(roles=[Role.TENANT_ADMIN], username="li-admin-header")
    client.force_login(admin)
    client.post(reverse("admin:tenants_integrationtoken_add"), {"name": "pos-sync"})
    with tenant_scope(admin.tenant):
        token = IntegrationToken.objects.get()
    url = reverse("admin:tenants_integrationtoken_change", args=[token.pk])
    parts = _header(client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode())
    assert (parts[:2], parts[2].split(" ")[0]) == (
        ["Tenants and staff", "Integration tokens"],
        "pos-sync",
    ), parts
    url = reverse("admin:tenants_user_change", args=[admin.pk])
    assert _header(client.get(url).content.decode())[-1] == "li-admin-header"
