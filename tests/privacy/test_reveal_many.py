"""reveal_many: a list page's reveal, checked per record like reveal, recorded once."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from audits.models import AuditEvent
from orders.lifecycle import transition_order
from orders.models import Order, Status
from privacy.api import reveal_many
from privacy.keys import destroy_subject_key
from privacy.permissions import Purpose
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, TenantFactory, UserFactory
from tests.rawdb import read_column, write_column

pytestmark = pytest.mark.django_db(databases="__all__")


def _events(tenant) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(action__startswith="privacy.").order_by("sequence"))


def _customer(n: int) -> dict[str, str]:
    return {"name": f"客{n}", "phone": f"1380000{n:04d}", "address": "北京市朝阳区A路1号"}


def test_one_event_names_every_record_revealed() -> None:
    tenant = TenantFactory()
    orders = [OrderFactory(tenant=tenant, customer=_customer(n)) for n in range(5)]
    cook = UserFactory(tenant=tenant, roles=[Role.KITCHEN])
    before = len(_events(tenant))
    results = reveal_many(
        orders, fields=["items", "note"], actor=cook, purpose=Purpose.FOOD_PREPARATION
    )
    (event,) = _events(tenant)[before:]
    assert (
        [results[o.pk].values["note"] for o in orders],
        event.action,
        event.details,
        event.fields,
        event.object_type,
    ) == (
        ["放门口"] * 5,
        "privacy.reveal_batch",
        {"objects": [str(o.pk) for o in orders], "count": 5},
        ["items", "note"],
        "orders.order",
    )


def test_refusals_and_failures_are_per_record_and_recorded_once_each() -> None:
    tenant = TenantFactory()
    fine, shredded, packed, tampered = (
        OrderFactory(tenant=tenant, customer=_customer(n)) for n in range(4)
    )
    cook = UserFactory(tenant=tenant, roles=[Role.KITCHEN])
    # The kitchen's rule stops at its stages: a packed order is refused.
    transition_order(order=packed, to=Status.PREPARING, actor=cook)
    transition_order(
        order=packed,
        to=Status.PACKED,
        actor=UserFactory(tenant=tenant, roles=[Role.PACKER]),
        seal_number="SEAL-0001",
    )
    destroy_subject_key(tenant, shredded.subject_id)
    blob = bytearray(read_column(Order, tampered.pk, "note_ct"))
    blob[-1] ^= 1
    write_column(Order, tampered.pk, "note_ct", bytes(blob))
    with tenant_scope(tenant):
        orders = list(Order.objects.filter(pk__in=[fine.pk, shredded.pk, packed.pk, tampered.pk]))
    before = len(_events(tenant))
    results = reveal_many(orders, fields=["note"], actor=cook, purpose=Purpose.FOOD_PREPARATION)
    events = {e.action: e.details for e in _events(tenant)[before:]}
    assert {pk: (r.ok, r.failure) for pk, r in results.items()} == {
        fine.pk: (True, ""),
        shredded.pk: (False, "erased"),
        packed.pk: (False, "denied"),
        tampered.pk: (False, "integrity"),
    }
    assert events == {
        "privacy.reveal_batch": {"objects": [str(fine.pk)], "count": 1},
        "privacy.reveal_batch_denied": {"objects": [str(packed.pk)], "count": 1},
        "privacy.reveal_batch_failed": {"objects": [str(shredded.pk)], "count": 1},
        "privacy.integrity_failure": {"error": "DecryptionIntegrityError", "layer": "field"},
    }


def test_nothing_to_reveal_records_nothing() -> None:
    cook = UserFactory(roles=[Role.KITCHEN])
    with tenant_scope(cook.tenant):
        before = AuditEvent.objects.count()
    revealed = reveal_many([], fields=["note"], actor=cook, purpose="food_preparation")
    with tenant_scope(cook.tenant):
        after = AuditEvent.objects.count()
    assert (revealed, after - before) == ({}, 0)


def test_bad_fields_purpose_or_mixed_tenants_are_refused_before_anything() -> None:
    order = OrderFactory()
    cook = UserFactory(tenant=order.tenant, roles=[Role.KITCHEN])
    with pytest.raises(ValidationError):
        reveal_many([order], fields=["pin_hash"], actor=cook, purpose="food_preparation")
    with pytest.raises(ValidationError):
        reveal_many([order], fields=["note"], actor=cook, purpose="curiosity")
    with pytest.raises(ValueError, match="one model and one tenant"):
        reveal_many(
            [order, OrderFactory()], fields=["note"], actor=cook, purpose="food_preparation"
        )
    with pytest.raises(Order.DoesNotExist):
        reveal_many([OrderFactory()], fields=["note"], actor=cook, purpose="food_preparation")
    assert [e.action for e in _events(order.tenant) if "reveal" in e.action] == []


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_reveal_many_refuses_to_run_inside_a_callers_transaction() -> None:
    order = OrderFactory()
    cook = UserFactory(tenant=order.tenant, roles=[Role.KITCHEN])
    with (
        pytest.raises(RuntimeError, match=r"reveal_many\(\) must run outside"),
        transaction.atomic(),
    ):
        reveal_many([order], fields=["note"], actor=cook, purpose="food_preparation")
    assert [e.action for e in _events(order.tenant) if "reveal" in e.action] == []
