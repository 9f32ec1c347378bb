"""Who holds which role, and which Django model permissions each role carries.

Roles live in ``Membership`` rows of the user's own tenant. Model permissions are not
stored per user (Django groups and user permissions are global, not per tenant); each app
declares in its ``AppConfig.ready()`` which permissions a role carries, and
``tenants.backends.RoleBackend`` answers ``user.has_perm`` from that table.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from tenants.models import Membership, Role, User

_ROLE_PERMISSIONS: dict[str, set[str]] = defaultdict(set)
_CACHE_ATTR = "_baomi_roles"


def grant_permissions(role: Role | str, *perms: str) -> None:
    """Register that holders of ``role`` carry ``perms`` ("app_label.codename")."""
    role = Role(role)
    for perm in perms:
        if perm.count(".") != 1:
            raise ValueError(f"Permission {perm!r} must look like 'app_label.codename'.")
    _ROLE_PERMISSIONS[role].update(perms)


def permissions_of_roles(roles: Iterable[str]) -> frozenset[str]:
    result: set[str] = set()
    for role in roles:
        result |= _ROLE_PERMISSIONS.get(role, set())
    return frozenset(result)


def roles_of(user: User | object) -> frozenset[str]:
    """The roles ``user`` holds in their tenant (empty for anonymous users and operators).

    Cached on the user object for the request; ``forget_roles`` drops the cache.
    """
    if not isinstance(user, User) or not user.is_authenticated:
        return frozenset()
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    if user.tenant_id is None:
        roles: frozenset[str] = frozenset()
    else:
        # The user's own tenant, named explicitly: this also works before the request's
        # scope is entered (authentication) and never reaches another tenant's rows.
        roles = frozenset(
            Membership.objects.with_scope(tenant=user.tenant_id)
            .filter(user=user)
            .values_list("role", flat=True)
        )
    setattr(user, _CACHE_ATTR, roles)
    return roles


def forget_roles(user: User) -> None:
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def has_role(user: User | object, *roles: Role | str) -> bool:
    """True if ``user`` holds at least one of ``roles``."""
    return bool(roles_of(user) & {Role(role).value for role in roles})


def works_in_back_office(roles: Iterable[str]) -> bool:
    return any(role != Role.RIDER for role in roles)
