from __future__ import annotations

import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError

from tenants.actors import SystemActor
from tenants.models import Membership, Role, User
from tenants.roles import has_role, roles_of
from tenants.scoping import tenant_scope
from tenants.services import create_staff_user, grant_role, revoke_role
from tests.factories import MembershipFactory, OperatorFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db
SYSTEM = SystemActor("tests")


def test_user_may_hold_several_roles_in_one_tenant() -> None:
    user = UserFactory(roles=[Role.KITCHEN, Role.PACKER])
    assert roles_of(user) == {"kitchen", "packer"}


def test_has_role_is_true_for_any_of_the_roles_named() -> None:
    user = UserFactory(roles=[Role.DISPATCHER])
    assert has_role(user, Role.SUPERVISOR, Role.DISPATCHER)


def test_has_role_is_false_for_a_role_not_held() -> None:
    assert not has_role(UserFactory(roles=[Role.DISPATCHER]), Role.SUPERVISOR)


def test_operator_holds_no_tenant_roles() -> None:
    assert roles_of(OperatorFactory()) == frozenset()


def test_user_cannot_hold_a_role_in_another_tenant() -> None:
    user = UserFactory()
    with pytest.raises(ValidationError, match="only hold roles in the tenant they belong to"):
        MembershipFactory(tenant=TenantFactory(), user=user)


def test_superuser_with_a_tenant_is_refused_by_the_database() -> None:
    with pytest.raises(IntegrityError):
        User.objects.create(username="x", is_superuser=True, tenant=TenantFactory())


def test_tenant_user_without_tenant_is_refused_by_the_database() -> None:
    with pytest.raises(IntegrityError):
        User.objects.create(username="x", is_superuser=False, tenant=None)


def test_granting_a_back_office_role_makes_the_user_staff() -> None:
    user = UserFactory(roles=[Role.RIDER])
    grant_role(user=user, role=Role.DISPATCHER, actor=SYSTEM)
    user.refresh_from_db()
    assert (user.is_staff, roles_of(user)) == (True, {"rider", "dispatcher"})


def test_revoking_the_last_back_office_role_ends_staff_status() -> None:
    user = UserFactory(roles=[Role.RIDER, Role.KITCHEN])
    revoke_role(user=user, role=Role.KITCHEN, actor=SYSTEM)
    user.refresh_from_db()
    assert (user.is_staff, roles_of(user)) == (False, {"rider"})


def test_granting_a_role_twice_keeps_one_membership() -> None:
    user = UserFactory(roles=[Role.KITCHEN])
    grant_role(user=user, role=Role.KITCHEN, actor=SYSTEM)
    with tenant_scope(user.tenant):
        assert Membership.objects.filter(user=user).count() == 1


def test_tenant_admin_of_another_tenant_cannot_grant_roles() -> None:
    outsider = UserFactory(roles=[Role.TENANT_ADMIN])
    with pytest.raises(PermissionDenied):
        grant_role(user=UserFactory(), role=Role.KITCHEN, actor=outsider)


def test_non_admin_cannot_create_staff_users() -> None:
    dispatcher = UserFactory(roles=[Role.DISPATCHER])
    with pytest.raises(PermissionDenied):
        create_staff_user(
            tenant=dispatcher.tenant,
            username="new",
            password="a-Long-pass-phrase-9",
            roles=[Role.KITCHEN],
            actor=dispatcher,
        )


def test_tenant_admin_creates_staff_user_in_own_tenant() -> None:
    admin = UserFactory(roles=[Role.TENANT_ADMIN])
    user = create_staff_user(
        tenant=admin.tenant,
        username="new",
        password="a-Long-pass-phrase-9",
        roles=[Role.KITCHEN],
        actor=admin,
    )
    assert (user.tenant_id, user.is_staff, roles_of(user)) == (admin.tenant_id, True, {"kitchen"})


def test_staff_user_needs_at_least_one_role() -> None:
    with pytest.raises(ValidationError, match="at least one role"):
        create_staff_user(
            tenant=TenantFactory(),
            username="new",
            password="a-Long-pass-phrase-9",
            roles=[],
            actor=SYSTEM,
        )


def test_failed_staff_user_creation_writes_nothing() -> None:
    with pytest.raises(ValidationError):
        create_staff_user(
            tenant=TenantFactory(),
            username="new",
            password="short",
            roles=[Role.KITCHEN],
            actor=SYSTEM,
        )
    assert not User.objects.filter(username="new").exists()


# What the back office lets each role do with this app's data; every other pair is refused.
ALLOWED = {
    Role.TENANT_ADMIN: {
        "tenants.view_user",
        "tenants.add_user",
        "tenants.change_user",
        "tenants.view_membership",
        "tenants.add_membership",
        "tenants.change_membership",
        "tenants.delete_membership",
        "tenants.view_integrationtoken",
        "tenants.add_integrationtoken",
    },
    Role.SUPERVISOR: {"tenants.view_user", "tenants.view_membership"},
}
# Every model permission of the app, so a permission granted later without a row shows up.
PERMISSIONS = [
    f"tenants.{action}_{model._meta.model_name}"
    for model in apps.get_app_config("tenants").get_models()
    for action in model._meta.default_permissions
]
PERMISSION_MATRIX = [
    (role, perm, perm in ALLOWED.get(role, set())) for role in Role for perm in PERMISSIONS
]


@pytest.mark.parametrize(("role", "perm", "expected"), PERMISSION_MATRIX)
def test_role_permission_matrix(role: Role, perm: str, expected: bool) -> None:
    assert UserFactory(roles=[role]).has_perm(perm) is expected


def test_user_of_deactivated_tenant_has_no_permissions() -> None:
    user = UserFactory(roles=[Role.TENANT_ADMIN], tenant=TenantFactory(is_active=False))
    assert not user.has_perm("tenants.view_user")
