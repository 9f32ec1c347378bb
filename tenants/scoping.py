"""Tenant isolation at the ORM level, built on django-scopes, with its known holes closed.

django-scopes filters every query of a ``ScopedManager`` by the active ``scope()`` and hands
out a ``DisabledQuerySet`` when no scope is active. That queryset still lets ``exists()``,
``explain()``, ``in_bulk()``, ``contains()``, ``exclude()`` chains and subqueries run
unfiltered, and ``scope(tenant=None)`` means "scoped, but no filter". Here every way of
reaching the database from an unscoped queryset raises ``ScopeError``, and a ``None``
tenant counts as no scope at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import models
from django_scopes import ScopedManager, scope
from django_scopes.exceptions import ScopeError
from django_scopes.manager import DisabledQuerySet
from django_scopes.state import get_scope

__all__ = [
    "ScopeError",
    "TenantScopedManager",
    "UnscopedQuerySet",
    "active_tenant_id",
    "scopes_are_disabled",
    "tenant_scope",
]


class UnscopedQuerySet(DisabledQuerySet):
    """What a tenant-owned model's manager returns outside a tenant scope: it only raises."""

    def error(self, *args: Any, **kwargs: Any) -> Any:
        raise ScopeError(
            f"{self.model.__name__}: a tenant scope must be active for this query "
            "(use tenants.scoping.tenant_scope, the request middleware or a TenantTask)."
        )

    # django-scopes leaves these running unfiltered.
    bulk_create = error
    abulk_create = error
    abulk_update = error
    exists = error
    aexists = error
    explain = error
    aexplain = error
    contains = error
    in_bulk = error
    bulk_update = error
    exclude = error
    select_related = error
    prefetch_related = error
    distinct = error
    defer = error
    extra = error
    alias = error
    acount = error
    aget = error
    aiterator = error
    # Everything that reads rows ends up here; covering it catches what a list misses.
    _fetch_all = error
    # Used when the queryset is a subquery of another query (``filter(x__in=qs)``).
    resolve_expression = error

    def __repr__(self) -> str:
        return f"<UnscopedQuerySet of {self.model.__name__}: no tenant scope is active>"


# Everything django-scopes already disables raises with this class's message too.
for _name, _value in list(vars(DisabledQuerySet).items()):
    if _value is DisabledQuerySet.error and _name != "error":
        setattr(UnscopedQuerySet, _name, UnscopedQuerySet.error)


class TenantQuerySet(models.QuerySet[Any]):
    """Inside a scope: bulk writes check every row's tenant, and no row changes tenant."""

    def _check_rows(self, objs: list[Any]) -> None:
        for obj in objs:
            obj._check_write_scope("Saving")

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[Any]:
        objs = list(objs)
        self._check_rows(objs)
        return super().bulk_create(objs, *args, **kwargs)

    def bulk_update(self, objs: Any, fields: Any, *args: Any, **kwargs: Any) -> int:
        objs = list(objs)
        if {"tenant", "tenant_id"} & set(fields):
            raise ScopeError("A row never moves to another tenant.")
        self._check_rows(objs)
        return super().bulk_update(objs, fields, *args, **kwargs)

    def update(self, **kwargs: Any) -> int:
        if {"tenant", "tenant_id"} & set(kwargs):
            raise ScopeError("A row never moves to another tenant.")
        return super().update(**kwargs)


def _manager_base() -> type[models.Manager[Any]]:
    return type(
        ScopedManager(_manager_class=models.Manager.from_queryset(TenantQuerySet), tenant="tenant")
    )


class TenantScopedManager(_manager_base()):  # type: ignore[misc]
    """``ScopedManager(tenant="tenant")`` whose unscoped querysets are ``UnscopedQuerySet``."""

    def get_queryset(self) -> models.QuerySet[Any]:
        current = getattr(self, "_override_scope", None) or get_scope()
        if current.get("_enabled", True) and current.get("tenant") is None:
            return UnscopedQuerySet(self.model, using=self._db, missing_scopes={"tenant"})
        return super().get_queryset()


def scopes_are_disabled() -> bool:
    return get_scope().get("_enabled", True) is False


def active_tenant_id() -> int | None:
    """The id of the tenant whose scope is active, or None (no scope, or scopes disabled)."""
    current = get_scope()
    if not current.get("_enabled", True):
        return None
    value = current.get("tenant")
    if value is None:
        return None
    return value if isinstance(value, int) else value.pk


@contextmanager
def tenant_scope(tenant: Any) -> Iterator[None]:
    """Enter one tenant's scope. ``tenant`` is a Tenant or its id, never None."""
    if tenant is None:
        raise ValueError("tenant_scope() needs a tenant; None would mean 'no filter'.")
    with scope(tenant=tenant):
        yield
