"""Tenant isolation at the ORM level, for every tenant-owned model in the project.

The models are found by walking the app registry, so a model added by a later issue is
covered without touching this file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.db import connections, models, router
from django_scopes import scope, scopes_disabled

from tenants.models import Membership, TenantOwnedModel
from tenants.scoping import ScopeError, TenantScopedManager, tenant_scope
from tests.factories import MembershipFactory, TenantFactory

SCOPED_MODELS = [m for m in apps.get_models() if issubclass(m, TenantOwnedModel)]
MODEL_IDS = [m._meta.label for m in SCOPED_MODELS]

# Each way of reaching rows; all must raise outside a scope.
UNSCOPED_QUERIES: dict[str, Callable[[type[models.Model]], Any]] = {
    "all": lambda m: list(m.objects.all()),
    "count": lambda m: m.objects.count(),
    "exists": lambda m: m.objects.exists(),
    "get": lambda m: m.objects.get(pk=1),
    "explain": lambda m: m.objects.explain(),
    "filter": lambda m: list(m.objects.filter(pk__gte=0)),
    "exclude-exists": lambda m: m.objects.exclude(pk=0).exists(),
    "first": lambda m: m.objects.first(),
    "in_bulk": lambda m: m.objects.in_bulk([1]),
    "contains": lambda m: m.objects.contains(m(pk=1)),
    "aggregate": lambda m: m.objects.aggregate(n=models.Count("pk")),
    "values_list": lambda m: list(m.objects.values_list("pk", flat=True)),
    "iterator": lambda m: list(m.objects.iterator()),
    "update": lambda m: m.objects.update(tenant_id=1),
    "delete": lambda m: m.objects.get_queryset().delete(),
    "select_for_update": lambda m: list(m.objects.select_for_update()),
    "subquery": lambda m: list(
        m._meta.get_field("tenant").related_model.objects.filter(
            pk__in=m.objects.values("tenant_id")
        )
    ),
    "subquery-of-exclude": lambda m: list(
        m._meta.get_field("tenant").related_model.objects.filter(pk__in=m.objects.exclude(pk=0))
    ),
    "base-manager": lambda m: m._base_manager.count(),
    "bulk_create": lambda m: m.objects.bulk_create([]),
    "bulk_update": lambda m: m.objects.bulk_update([], ["pk"]),
    "get_or_create": lambda m: m.objects.get_or_create(pk=1),
}


def test_the_project_has_tenant_owned_models() -> None:
    assert Membership in SCOPED_MODELS


@pytest.mark.django_db(databases="__all__")
@pytest.mark.parametrize("query", list(UNSCOPED_QUERIES), ids=list(UNSCOPED_QUERIES))
@pytest.mark.parametrize("model", SCOPED_MODELS, ids=MODEL_IDS)
def test_query_on_tenant_owned_model_outside_a_scope_raises(
    model: type[models.Model], query: str
) -> None:
    with pytest.raises(ScopeError):
        UNSCOPED_QUERIES[query](model)


@pytest.mark.django_db
@pytest.mark.parametrize("model", SCOPED_MODELS, ids=MODEL_IDS)
def test_scope_with_tenant_none_does_not_mean_all_tenants(model: type[models.Model]) -> None:
    with scope(tenant=None), pytest.raises(ScopeError):
        model.objects.count()


def test_tenant_scope_refuses_none() -> None:
    with pytest.raises(ValueError, match="needs a tenant"), tenant_scope(None):
        pass


@pytest.mark.parametrize("model", SCOPED_MODELS, ids=MODEL_IDS)
def test_tenant_owned_model_has_a_required_tenant_key(model: type[models.Model]) -> None:
    field = model._meta.get_field("tenant")
    assert (field.many_to_one, field.null, field.has_default()) == (True, False, False)


@pytest.mark.parametrize("model", SCOPED_MODELS, ids=MODEL_IDS)
def test_tenant_owned_model_managers_are_scoped(model: type[models.Model]) -> None:
    assert isinstance(model._default_manager, TenantScopedManager)
    assert isinstance(model._base_manager, TenantScopedManager)


@pytest.mark.django_db(databases="__all__")
@pytest.mark.parametrize("model", SCOPED_MODELS, ids=MODEL_IDS)
def test_every_index_of_a_tenant_owned_table_leads_with_tenant_id(
    model: type[models.Model],
) -> None:
    connection = connections[router.db_for_write(model)]
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    leading = {
        name: info["columns"][0]
        for name, info in constraints.items()
        if (info["index"] or info["unique"]) and not info["primary_key"]
    }
    assert leading
    assert {name: col for name, col in leading.items() if col != "tenant_id"} == {}


@pytest.mark.django_db
def test_scoped_query_sees_only_its_tenants_rows() -> None:
    ours = MembershipFactory()
    MembershipFactory()  # another tenant's
    with tenant_scope(ours.tenant):
        assert list(Membership.objects.values_list("pk", flat=True)) == [ours.pk]


@pytest.mark.django_db
def test_another_tenants_row_is_not_found_inside_a_scope() -> None:
    theirs = MembershipFactory()
    with tenant_scope(TenantFactory()), pytest.raises(Membership.DoesNotExist):
        Membership.objects.get(pk=theirs.pk)


@pytest.mark.django_db
def test_saving_a_tenant_owned_row_outside_a_scope_raises() -> None:
    membership = MembershipFactory()
    membership.role = "kitchen"
    with pytest.raises(ScopeError, match="Saving Membership needs an active tenant scope"):
        membership.save()


@pytest.mark.django_db
def test_saving_a_row_inside_another_tenants_scope_raises() -> None:
    membership = MembershipFactory()
    with tenant_scope(TenantFactory()), pytest.raises(ScopeError, match="another tenant"):
        membership.save()


@pytest.mark.django_db
def test_deleting_a_row_inside_another_tenants_scope_raises() -> None:
    membership = MembershipFactory()
    with tenant_scope(TenantFactory()), pytest.raises(ScopeError, match="another tenant"):
        membership.delete()


@pytest.mark.django_db
def test_platform_code_with_scopes_disabled_sees_every_tenant() -> None:
    MembershipFactory()
    MembershipFactory()
    # Platform-operator code: the only place scopes_disabled() belongs.
    with scopes_disabled():
        assert Membership.objects.count() == 2


def test_unscoped_queryset_repr_does_not_query() -> None:
    assert repr(Membership.objects.get_queryset()) == (
        "<UnscopedQuerySet of Membership: no tenant scope is active>"
    )


@pytest.mark.django_db
def test_bulk_create_inside_another_tenants_scope_raises() -> None:
    theirs = MembershipFactory()
    row = Membership(tenant=theirs.tenant, user=theirs.user, role="kitchen")
    with tenant_scope(TenantFactory()), pytest.raises(ScopeError, match="another tenant"):
        Membership.objects.bulk_create([row])


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["tenant", "tenant_id"])
def test_update_never_moves_rows_to_another_tenant(field: str) -> None:
    ours = MembershipFactory()
    other = TenantFactory()
    value = other if field == "tenant" else other.pk
    with tenant_scope(ours.tenant), pytest.raises(ScopeError, match="never moves"):
        Membership.objects.filter(pk=ours.pk).update(**{field: value})


@pytest.mark.django_db
def test_bulk_update_never_moves_rows_to_another_tenant() -> None:
    ours = MembershipFactory()
    ours.tenant = TenantFactory()
    with tenant_scope(ours.tenant), pytest.raises(ScopeError, match="never moves"):
        Membership.objects.bulk_update([ours], ["tenant"])


@pytest.mark.django_db(databases="__all__")
def test_the_fast_row_helpers_keep_to_the_active_tenant() -> None:
    from privacy.models import DataSubject, SubjectKey
    from tenants.bulk import fetch_rows, insert_rows
    from tests.factories import DataSubjectFactory

    ours, theirs = DataSubjectFactory(phone="13800000001"), DataSubjectFactory(phone="13800000002")
    with pytest.raises(ScopeError):
        fetch_rows(DataSubject, ("id",), id=theirs.pk)
    with tenant_scope(ours.tenant):
        # Another tenant's row is never found, even by its exact id (here in the key store).
        assert fetch_rows(SubjectKey, ("id",), id=theirs.pk) == []
        assert fetch_rows(SubjectKey, ("id",), id=ours.pk) == [(ours.pk,)]
        assert fetch_rows(DataSubject, ("id", "erased_at"), erased_at=None) == [(ours.pk, None)]
        # A list is an IN test, still within the tenant; an empty one is refused.
        assert fetch_rows(SubjectKey, ("id",), id=[ours.pk, theirs.pk]) == [(ours.pk,)]
        with pytest.raises(ValueError, match="at least one value"):
            fetch_rows(SubjectKey, ("id",), id=[])
        stray = Membership(tenant=theirs.tenant, user=MembershipFactory().user, role="rider")
        with pytest.raises(ScopeError):
            insert_rows(Membership, [stray])


@pytest.mark.parametrize(
    ("written", "native"),
    [
        ("SELECT %s, %s", "SELECT $1, $2"),
        ("SELECT 'a%%b' || %s", "SELECT 'a%b' || $1"),
        ("SELECT '%%s', %s", "SELECT '%s', $1"),
        ("SELECT 1", "SELECT 1"),
    ],
)
def test_hot_statements_are_numbered_as_psycopg_reads_them(written: str, native: str) -> None:
    from tenants.bulk import native_placeholders

    assert native_placeholders(written) == native


@pytest.mark.parametrize("written", ["SELECT %d", "SELECT 5 %", "SELECT %(name)s"])
def test_hot_statements_refuse_other_placeholders(written: str) -> None:
    from tenants.bulk import native_placeholders

    with pytest.raises(ValueError, match="only %s placeholders"):
        native_placeholders(written)


@pytest.mark.django_db
def test_a_hot_cursor_runs_many_parameters_and_literal_percent_signs() -> None:
    from tenants.bulk import hot_cursor

    values = list(range(60))  # over the 50 parameters psycopg caches its parsing for
    statement = "SELECT 'x%%y', " + ", ".join(["%s"] * len(values))
    with hot_cursor(connections["default"]) as cursor:
        for _ in range(3):  # prepared from the second run on PostgreSQL
            cursor.execute(statement, values)
            assert list(cursor.fetchone()) == ["x%y", *values]
