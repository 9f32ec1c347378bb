"""The back office is scoped to the user's tenant: another tenant's rows are never listed,
opened, changed or deleted, and looking for them is a 404."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django_scopes import scopes_disabled

from tenants.models import Membership, Role, User
from tests.factories import MembershipFactory, OperatorFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db

OBJECT_VIEWS = ["change", "delete", "history"]


@pytest.fixture
def tenant_a_admin() -> User:
    return UserFactory(tenant=TenantFactory(slug="tenant-a"), roles=[Role.TENANT_ADMIN])


@pytest.fixture
def admin_client_a(client: Client, tenant_a_admin: User) -> Client:
    client.force_login(tenant_a_admin)
    return client


@pytest.fixture
def tenant_b_staff() -> User:
    return UserFactory(tenant=TenantFactory(slug="tenant-b"), roles=[Role.KITCHEN])


def _membership_of(user: User) -> Membership:
    with scopes_disabled():  # test setup reads across tenants on purpose
        return Membership.objects.get(user=user)


@pytest.mark.parametrize("view", OBJECT_VIEWS)
def test_tenant_admin_gets_404_for_another_tenants_membership(
    admin_client_a: Client, tenant_b_staff: User, view: str
) -> None:
    url = reverse(f"admin:tenants_membership_{view}", args=[_membership_of(tenant_b_staff).pk])
    assert admin_client_a.get(url).status_code == 404


@pytest.mark.parametrize("view", OBJECT_VIEWS)
def test_tenant_admin_gets_404_for_another_tenants_user(
    admin_client_a: Client, tenant_b_staff: User, view: str
) -> None:
    url = reverse(f"admin:tenants_user_{view}", args=[tenant_b_staff.pk])
    assert admin_client_a.get(url).status_code == 404


def test_tenant_admin_cannot_change_another_tenants_user(
    admin_client_a: Client, tenant_b_staff: User
) -> None:
    url = reverse("admin:tenants_user_change", args=[tenant_b_staff.pk])
    response = admin_client_a.post(url, {"username": "renamed", "is_active": ""})
    tenant_b_staff.refresh_from_db()
    assert (response.status_code, tenant_b_staff.username, tenant_b_staff.is_active) == (
        404,
        tenant_b_staff.username,
        True,
    )


def test_tenant_admin_cannot_delete_another_tenants_membership(
    admin_client_a: Client, tenant_b_staff: User
) -> None:
    membership = _membership_of(tenant_b_staff)
    url = reverse("admin:tenants_membership_delete", args=[membership.pk])
    response = admin_client_a.post(url, {"post": "yes"})
    with scopes_disabled():
        still_there = Membership.objects.filter(pk=membership.pk).exists()
    assert (response.status_code, still_there) == (404, True)


def test_bulk_delete_action_deletes_own_rows_but_not_another_tenants(
    admin_client_a: Client, tenant_a_admin: User, tenant_b_staff: User
) -> None:
    ours = MembershipFactory(tenant=tenant_a_admin.tenant, role=Role.KITCHEN)
    theirs = _membership_of(tenant_b_staff)
    admin_client_a.post(
        reverse("admin:tenants_membership_changelist"),
        {"action": "delete_selected", "_selected_action": [ours.pk, theirs.pk], "post": "yes"},
    )
    with scopes_disabled():
        remaining = set(
            Membership.objects.filter(pk__in=[ours.pk, theirs.pk]).values_list("pk", flat=True)
        )
    assert remaining == {theirs.pk}


def test_membership_list_shows_only_own_tenant(
    admin_client_a: Client, tenant_a_admin: User, tenant_b_staff: User
) -> None:
    response = admin_client_a.get(reverse("admin:tenants_membership_changelist"))
    listed = {m.pk for m in response.context["cl"].result_list}
    assert listed == {_membership_of(tenant_a_admin).pk}


def test_user_list_shows_only_own_tenant(
    admin_client_a: Client, tenant_a_admin: User, tenant_b_staff: User
) -> None:
    OperatorFactory()
    response = admin_client_a.get(reverse("admin:tenants_user_changelist"))
    assert [u.pk for u in response.context["cl"].result_list] == [tenant_a_admin.pk]


def test_tenant_admin_can_open_own_tenants_user(
    admin_client_a: Client, tenant_a_admin: User
) -> None:
    colleague = UserFactory(tenant=tenant_a_admin.tenant, roles=[Role.PACKER])
    url = reverse("admin:tenants_user_change", args=[colleague.pk])
    assert admin_client_a.get(url).status_code == 200


def test_tenant_admin_is_not_offered_superuser_or_tenant_fields(
    admin_client_a: Client, tenant_a_admin: User
) -> None:
    colleague = UserFactory(tenant=tenant_a_admin.tenant, roles=[Role.PACKER])
    form = (
        admin_client_a.get(reverse("admin:tenants_user_change", args=[colleague.pk]))
        .context["adminform"]
        .form
    )
    assert {"is_superuser", "tenant", "groups", "user_permissions"} & set(form.fields) == set()


def test_user_added_by_tenant_admin_belongs_to_their_tenant(
    admin_client_a: Client, tenant_a_admin: User
) -> None:
    admin_client_a.post(
        reverse("admin:tenants_user_add"),
        {
            "username": "new-cs",
            "password1": "a-Long-pass-phrase-9",
            "password2": "a-Long-pass-phrase-9",
            "usable_password": "true",
        },
    )
    assert User.objects.get(username="new-cs").tenant_id == tenant_a_admin.tenant_id


def test_role_granted_in_admin_inline_is_in_the_users_tenant(
    admin_client_a: Client, tenant_a_admin: User
) -> None:
    colleague = UserFactory(tenant=tenant_a_admin.tenant)
    prefix = "memberships"
    admin_client_a.post(
        reverse("admin:tenants_user_change", args=[colleague.pk]),
        {
            "username": colleague.username,
            "is_active": "on",
            f"{prefix}-TOTAL_FORMS": "1",
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-0-role": Role.DISPATCHER,
            f"{prefix}-0-user": colleague.pk,
        },
    )
    colleague.refresh_from_db()
    with scopes_disabled():
        memberships = list(Membership.objects.filter(user=colleague).values_list("tenant", "role"))
    assert (memberships, colleague.is_staff) == (
        [(tenant_a_admin.tenant_id, Role.DISPATCHER.value)],
        True,
    )


def test_tenant_admin_cannot_open_tenants(admin_client_a: Client) -> None:
    assert admin_client_a.get(reverse("admin:tenants_tenant_changelist")).status_code == 403


def test_kitchen_staff_cannot_list_memberships(client: Client) -> None:
    client.force_login(UserFactory(roles=[Role.KITCHEN]))
    assert client.get(reverse("admin:tenants_membership_changelist")).status_code == 403


def test_rider_cannot_log_in_to_the_back_office(client: Client) -> None:
    rider = UserFactory(roles=[Role.RIDER])
    response = client.post(
        reverse("admin:login"),
        {"username": rider.username, "password": "correct-horse-battery-staple"},
    )
    assert response.status_code == 200  # the form again, not a redirect into the admin


def test_user_of_deactivated_tenant_cannot_log_in(client: Client) -> None:
    tenant = TenantFactory(is_active=False)
    user = UserFactory(tenant=tenant, roles=[Role.TENANT_ADMIN])
    assert not client.login(username=user.username, password="correct-horse-battery-staple")


def test_platform_operator_lists_every_tenants_memberships(
    client: Client, tenant_a_admin: User, tenant_b_staff: User
) -> None:
    client.force_login(OperatorFactory())
    response = client.get(reverse("admin:tenants_membership_changelist"))
    assert len(response.context["cl"].result_list) == 2


def test_tenant_admin_cannot_delete_users_of_own_tenant(
    admin_client_a: Client, tenant_a_admin: User
) -> None:
    colleague = UserFactory(tenant=tenant_a_admin.tenant, roles=[Role.PACKER])
    url = reverse("admin:tenants_user_delete", args=[colleague.pk])
    # Users are deactivated, never deleted: the records they signed must keep their author.
    assert admin_client_a.get(url).status_code == 403


BACK_OFFICE_ROLES = [role for role in Role if role != Role.RIDER]


@pytest.mark.parametrize("role", BACK_OFFICE_ROLES)
@pytest.mark.parametrize("view", ["changelist", "change"])
def test_every_back_office_role_gets_404_or_403_never_another_tenants_row(
    client: Client, tenant_b_staff: User, role: Role, view: str
) -> None:
    client.force_login(UserFactory(roles=[role]))
    if view == "changelist":
        response = client.get(reverse("admin:tenants_membership_changelist"))
        listed = (
            [m.pk for m in response.context["cl"].result_list]
            if response.status_code == 200
            else []
        )
        assert _membership_of(tenant_b_staff).pk not in listed
    else:
        url = reverse("admin:tenants_membership_change", args=[_membership_of(tenant_b_staff).pk])
        assert client.get(url).status_code == 404


def test_tenant_admin_cannot_make_a_rider_staff(
    admin_client_a: Client, tenant_a_admin: User
) -> None:
    rider = UserFactory(tenant=tenant_a_admin.tenant, roles=[Role.RIDER])
    admin_client_a.post(
        reverse("admin:tenants_user_change", args=[rider.pk]),
        {
            "username": rider.username,
            "is_active": "on",
            "is_staff": "on",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    rider.refresh_from_db()
    assert rider.is_staff is False


def test_operator_adds_a_user_to_a_chosen_tenant(client: Client) -> None:
    tenant = TenantFactory()
    client.force_login(OperatorFactory())
    client.post(
        reverse("admin:tenants_user_add"),
        {
            "tenant": tenant.pk,
            "username": "new-admin",
            "usable_password": "true",
            "password1": "a-Long-pass-phrase-9",
            "password2": "a-Long-pass-phrase-9",
        },
    )
    assert User.objects.get(username="new-admin").tenant_id == tenant.pk


def test_operator_adding_a_user_without_tenant_gets_a_form_error(client: Client) -> None:
    client.force_login(OperatorFactory())
    response = client.post(
        reverse("admin:tenants_user_add"),
        {
            "username": "new-admin",
            "usable_password": "true",
            "password1": "a-Long-pass-phrase-9",
            "password2": "a-Long-pass-phrase-9",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert (response.status_code, response.context["adminform"].form.errors["tenant"]) == (
        200,
        ["This field is required."],
    )


def test_a_users_tenant_cannot_be_changed_afterwards(client: Client, tenant_b_staff: User) -> None:
    client.force_login(OperatorFactory())
    form = (
        client.get(reverse("admin:tenants_user_change", args=[tenant_b_staff.pk]))
        .context["adminform"]
        .form
    )
    assert "tenant" not in form.fields
