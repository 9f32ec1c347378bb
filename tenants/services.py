"""Writes that matter for tenants, users and roles: one function per use case."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import password_validation
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from tenants.actors import Actor, SystemActor
from tenants.models import Membership, Role, Tenant, User
from tenants.roles import forget_roles, has_role, works_in_back_office
from tenants.scoping import tenant_scope
from tenants.signals import tenant_change


def _require_platform_actor(actor: Actor) -> None:
    if isinstance(actor, SystemActor):
        return
    if not (actor.is_active and actor.is_superuser):
        raise PermissionDenied(_("Only a platform operator may do this."))


def _require_tenant_admin(actor: Actor, tenant: Tenant) -> None:
    if isinstance(actor, SystemActor) or (actor.is_active and actor.is_superuser):
        return
    if actor.tenant_id != tenant.pk or not has_role(actor, Role.TENANT_ADMIN):
        raise PermissionDenied(_("Only an administrator of this tenant may do this."))


def create_tenant(*, slug: str, name: str, actor: Actor) -> Tenant:
    _require_platform_actor(actor)
    tenant = Tenant(slug=slug.strip(), name=name.strip())
    tenant.full_clean()
    with transaction.atomic():
        tenant.save()
        tenant_change.send(
            sender=Tenant, action="tenant.created", actor=actor, tenant=tenant, target=tenant
        )
    return tenant


def create_staff_user(
    *,
    tenant: Tenant,
    username: str,
    password: str,
    roles: Iterable[Role | str],
    actor: Actor,
    email: str = "",
) -> User:
    """Create a user of ``tenant`` holding ``roles``. Riders are not admin staff."""
    _require_tenant_admin(actor, tenant)
    role_values = sorted({Role(role).value for role in roles})
    if not role_values:
        raise ValidationError({"roles": _("Give the user at least one role.")})
    if not tenant.is_active:
        raise ValidationError({"tenant": _("This tenant is deactivated.")})
    user = User(
        tenant=tenant,
        username=username.strip(),
        email=email.strip(),
        is_staff=works_in_back_office(role_values),
    )
    user.set_unusable_password()  # validated first, set below
    user.full_clean(exclude=["password"])
    password_validation.validate_password(password, user)
    user.set_password(password)
    with transaction.atomic(), tenant_scope(tenant):
        user.save()
        for role in role_values:
            Membership(tenant=tenant, user=user, role=role).save()
        tenant_change.send(
            sender=User, action="user.created", actor=actor, tenant=tenant, target=user
        )
    return user


def grant_role(*, user: User, role: Role | str, actor: Actor) -> Membership:
    if user.tenant is None:
        raise ValidationError({"user": _("A platform operator holds no tenant roles.")})
    _require_tenant_admin(actor, user.tenant)
    role = Role(role)
    with transaction.atomic(), tenant_scope(user.tenant):
        membership, created = Membership.objects.get_or_create(
            tenant=user.tenant, user=user, role=role
        )
        if created:
            if role != Role.RIDER and not user.is_staff:
                user.is_staff = True
                user.save(update_fields=["is_staff"])
            tenant_change.send(
                sender=Membership,
                action="role.granted",
                actor=actor,
                tenant=user.tenant,
                target=membership,
            )
    forget_roles(user)
    return membership


def revoke_role(*, user: User, role: Role | str, actor: Actor) -> None:
    if user.tenant is None:
        raise ValidationError({"user": _("A platform operator holds no tenant roles.")})
    _require_tenant_admin(actor, user.tenant)
    role = Role(role)
    with transaction.atomic(), tenant_scope(user.tenant):
        membership = Membership.objects.filter(user=user, role=role).first()
        if membership is None:
            return
        membership.delete()
        remaining = Membership.objects.filter(user=user).values_list("role", flat=True)
        if user.is_staff and not works_in_back_office(remaining):
            user.is_staff = False
            user.save(update_fields=["is_staff"])
        tenant_change.send(
            sender=Membership,
            action="role.revoked",
            actor=actor,
            tenant=user.tenant,
            target=membership,
        )
    forget_roles(user)


def save_user_account(
    *, user: User, actor: Actor, created: bool, changed_fields: Iterable[str]
) -> User:
    """Save a user edited in the back office (new users get their roles afterwards)."""
    if user.tenant is None:
        raise ValidationError({"tenant": _("Choose the tenant this user belongs to.")})
    _require_tenant_admin(actor, user.tenant)
    user.full_clean(exclude=["password"])
    with transaction.atomic(), tenant_scope(user.tenant):
        user.save()
        tenant_change.send(
            sender=User,
            action="user.created" if created else "user.changed",
            actor=actor,
            tenant=user.tenant,
            target=user,
            details={"fields": sorted(f for f in changed_fields if f not in PASSWORD_FIELDS)},
        )
    return user


PASSWORD_FIELDS = {"password", "password1", "password2", "usable_password"}


def record_password_change(*, user: User, actor: Actor) -> None:
    if user.tenant is None:
        return  # platform operators' accounts are outside any tenant's log
    tenant_change.send(
        sender=User, action="user.password_changed", actor=actor, tenant=user.tenant, target=user
    )
