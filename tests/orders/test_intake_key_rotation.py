"""A new customer's key and a concurrent key rotation: intake checks the key's wrapping
version inside its one write statement (no round trip of its own) and, when a rotation
retired it meanwhile, rewraps the key under the newest version before anything is written
(docs/decisions/0020; the same guarantee as privacy.keys.create_subject_key)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from audits.models import AuditEvent
from audits.verification import verify_tenant_chain
from orders.intake import create_order
from orders.models import Order
from privacy.keys import _tenant_key_rows, create_tenant_key, tenant_key
from privacy.models import DataSubject, KeyPurpose, SubjectKey, TenantKey
from privacy.permissions import Purpose
from privacy.reveal import reveal
from privacy.routers import KEYSTORE
from privacy.selectors import current_notice
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, UserFactory

pytestmark = [
    pytest.mark.django_db(databases="__all__"),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the one-statement intake is PostgreSQL's"
    ),
]


def _intake(tenant: Any, agent: Any, phone: str) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "actor": agent,
        "customer": {"name": "欧阳娜娜", "phone": phone, "address": "上海市浦东新区张江路88号"},
        "items": [{"name": "米饭", "quantity": 1}],
        "privacy_notice_version": current_notice(tenant).version,
        "channel": "phone",
    }


def test_a_key_wrapped_under_a_version_retired_meanwhile_is_rewrapped_before_the_write() -> None:
    first = OrderFactory()
    tenant = first.tenant
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    stale = tenant_key(tenant, KeyPurpose.DATA)  # this process caches v1 as the newest
    # Another process rotates and retires v1; this process's cache is not told.
    create_tenant_key(tenant, KeyPurpose.DATA, stale.version + 1)
    with tenant_scope(tenant):
        TenantKey.objects.filter(pk=stale.pk).update(retired_at=timezone.now())
    _tenant_key_rows.put((tenant.pk, KeyPurpose.DATA, None), stale)
    with tenant_scope(tenant):
        events_before = AuditEvent.objects.count()

    new = create_order(**_intake(tenant, agent, "13700002222")).order

    with tenant_scope(tenant):
        version = SubjectKey.objects.using(KEYSTORE).get(pk=new.subject_id).tenant_key_version
        subjects = DataSubject.objects.filter(pk=new.subject_id).count()
        orders = Order.objects.filter(subject_id=new.subject_id).count()
        events = AuditEvent.objects.count() - events_before
    assert (version, subjects, orders, events) == (stale.version + 1, 1, 1, 2)
    assert verify_tenant_chain(tenant)[1] is None
    assert reveal(new, fields=["phone"], actor=agent, purpose=Purpose.CUSTOMER_SERVICE_CALL) == {
        "phone": "13700002222"
    }


def test_a_key_under_the_current_version_is_not_rewrapped() -> None:
    first = OrderFactory()
    tenant = first.tenant
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    current = tenant_key(tenant, KeyPurpose.DATA)
    new = create_order(**_intake(tenant, agent, "13700003333")).order
    with tenant_scope(tenant):
        version = SubjectKey.objects.using(KEYSTORE).get(pk=new.subject_id).tenant_key_version
    assert version == current.version
