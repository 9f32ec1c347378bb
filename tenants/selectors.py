"""Reads of tenants, users and memberships (no writes). Tenants and users are not
tenant-owned rows, so these reads filter explicitly; every caller that goes on to read a
tenant's data enters ``tenant_scope`` with the tenant returned here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from tenants.models import Membership, Tenant, User
from tenants.timezones import zone_named


def tenant_by_slug(slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug).first()


def tenant_by_id(tenant_id: int, *, active_only: bool) -> Tenant | None:
    """The tenant with this id (only if active when ``active_only``), or None."""
    tenants = Tenant.objects.filter(pk=tenant_id)
    if active_only:
        tenants = tenants.filter(is_active=True)
    return tenants.first()


def time_zone_of(tenant_id: int | None) -> ZoneInfo:
    """The time zone of the tenant ``tenant_id`` (one query); the platform's zone
    (``settings.TIME_ZONE``) for no tenant."""
    if tenant_id is None:
        return timezone.get_default_timezone()
    name = Tenant.objects.filter(pk=tenant_id).values_list("time_zone", flat=True).first()
    return zone_named(name) if name else timezone.get_default_timezone()


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


def actor_names(labels: Iterable[str], *, tenant_id: int) -> dict[str, str]:
    """Stored actor labels (``tenants.actors.actor_label``) → what people read: the
    username for ``user:<id>`` of this tenant (one query for them all), "System: <name>"
    for a system actor; other labels as stored. The stored, audited labels never change."""
    wanted = {label for label in labels if label}
    ids = {
        int(rest)
        for kind, _sep, rest in (label.partition(":") for label in wanted)
        if kind == "user" and rest.isascii() and rest.isdigit()
    }
    usernames = (
        dict(User.objects.filter(pk__in=ids, tenant_id=tenant_id).values_list("pk", "username"))
        if ids
        else {}
    )
    names = {}
    for label in wanted:
        kind, _sep, rest = label.partition(":")
        if kind == "user" and rest.isascii() and rest.isdigit() and int(rest) in usernames:
            names[label] = usernames[int(rest)]
        elif kind == "system" and rest:
            names[label] = gettext("System: %(name)s") % {"name": rest}
        else:
            names[label] = label
    return names


def name_actors(rows: Iterable[Any], field: str) -> None:
    """Set ``<field>_name`` on each of ``rows`` (one tenant's: an admin list's page) to the
    readable name of its stored actor label ``field`` (``actor_names``: one query for all)."""
    rows = list(rows)
    if not rows:
        return
    labels = [getattr(row, field) for row in rows]
    names = actor_names(labels, tenant_id=rows[0].tenant_id)
    for row, label in zip(rows, labels, strict=True):
        setattr(row, f"{field}_name", names.get(label, label))


def actor_name_of(row: Any, field: str) -> str:
    """``row``'s ``<field>_name`` as ``name_actors`` set it for a list's page, or read now
    (one row: its own page)."""
    if not hasattr(row, f"{field}_name"):
        name_actors([row], field)
    return str(getattr(row, f"{field}_name"))
