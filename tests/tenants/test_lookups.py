"""``field__any``: one array parameter on PostgreSQL, an IN list elsewhere; same rows."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders.models import Order
from privacy.models import DataSubject
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory


@pytest.mark.django_db(databases="__all__")
def test_any_finds_what_in_finds_by_key_foreign_key_and_join() -> None:
    first = OrderFactory()
    tenant = first.tenant
    # Three customers of one tenant, and another tenant's order the scope leaves out.
    orders = [first] + [
        OrderFactory(
            tenant=tenant,
            customer={"name": "客", "phone": f"1380000000{n}", "address": "北京市朝阳区A路1号"},
        )
        for n in range(2)
    ]
    OrderFactory()
    mine = [o for o in orders if o.tenant_id == tenant.pk]
    assert len({o.subject_id for o in mine}) == 3
    subjects = [o.subject_id for o in mine]
    missing = uuid.uuid4()
    with tenant_scope(tenant):
        by_key = DataSubject.objects.filter(pk__any=[*subjects, missing, None])
        by_fk = Order.objects.filter(subject_id__any=subjects)
        by_join = Order.objects.filter(subject__id__any=subjects)
        with CaptureQueriesContext(connection) as queries:
            found = {s.pk for s in by_key}
        assert found == set(
            DataSubject.objects.filter(pk__in=subjects).values_list("pk", flat=True)
        )
        assert {o.pk for o in by_fk} == {o.pk for o in by_join} == {o.pk for o in mine}
        assert DataSubject.objects.filter(pk__any=[]).count() == 0
        # Model instances stand for their keys, as with __in.
        by_instance = Order.objects.filter(subject__any=[o.subject for o in mine])
        assert {o.pk for o in by_instance} == {o.pk for o in mine}
    sql = queries.captured_queries[0]["sql"]
    if connection.vendor == "postgresql":
        # A list of ids goes as one array text, cast in the statement.
        assert "= ANY(" in sql and "::uuid[]" in sql and " IN (" not in sql
    else:
        assert " IN (" in sql


@pytest.mark.django_db(databases="__all__")
def test_any_takes_other_arrays_as_lists_of_values() -> None:
    order = OrderFactory()
    with tenant_scope(order.tenant):
        assert list(Order.objects.filter(tenant_id__any=[order.tenant_id, 10**9])) == [order]
        assert list(Order.objects.filter(code__any=[order.code, "x'y,\"{}"])) == [order]


def test_a_uuid_array_is_the_text_postgresql_reads_and_only_ids_go_in_it() -> None:
    from tenants.lookups import uuid_array

    one, two = uuid.uuid4(), uuid.uuid4()
    assert uuid_array([one, str(two)]) == "{" + f"{one},{two}" + "}"
    assert uuid_array([]) == "{}"
    with pytest.raises(ValueError):
        uuid_array(["1'}, {x"])


def test_any_refuses_a_string() -> None:
    from django_scopes import scopes_disabled

    with scopes_disabled():
        with pytest.raises(TypeError, match="list of values"):
            DataSubject.objects.filter(pk__any="abc")
        with pytest.raises(TypeError, match="not a queryset"):
            DataSubject.objects.filter(pk__any=DataSubject.objects.all())
