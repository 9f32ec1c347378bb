"""Reads of tenants, users and memberships (no writes). Tenants and users are not
tenant-owned rows, so these reads filter explicitly; every caller that goes on to read a
tenant's data enters ``tenant_scope`` with the tenant returned here."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import QuerySet

from tenants.models import Membership, Tenant, User


def tenant_by_slug(slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug).first()


def tenant_by_id(tenant_id: int, *, active_only: bool) -> Tenant | None:
    """The tenant with this id (only if active when ``active_only``), or None."""
    tenants = Tenant.objects.filter(pk=tenant_id)
    if active_only:
        tenants = tenants.filter(is_active=True)
    return tenants.first()


def iter_tenants(*, active_only: bool) -> Iterator[Tenant]:
    """Every tenant (or every active one) in id order: cross-tenant jobs enter each one's
    scope in turn."""
    tenants = Tenant.objects.order_by("pk")
    if active_only:
        tenants = tenants.filter(is_active=True)
    yield from tenants


def users_of(tenant: Tenant) -> QuerySet[User]:
    """The tenant's users, by username (the admin's choices for a membership)."""
    return User.objects.filter(tenant=tenant).order_by("username")


def membership_role(membership_id: int) -> str | None:
    """The role a membership holds in the database now (before an edit is saved)."""
    return Membership.objects.filter(pk=membership_id).values_list("role", flat=True).first()


def user_named(username: str) -> User | None:
    """The user with this username (and their tenant), or None: the login signals name
    the user only by the username typed."""
    return User.objects.select_related("tenant").filter(username=username).first()
