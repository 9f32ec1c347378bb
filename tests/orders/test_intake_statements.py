"""Intake's round trips: what the benchmark's profile brought it down to (docs/benchmarks.md).
A statement count, not a timing: it fails when a change adds a round trip to every order."""

from __future__ import annotations

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from audits.models import AuditEvent
from audits.verification import verify_tenant_chain
from orders.models import Order, OrderTransition
from orders.services import create_order
from privacy.models import NoticeRecord
from privacy.services import current_notice
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, UserFactory

pytestmark = [
    pytest.mark.django_db(databases="__all__"),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the one-round-trip writes are PostgreSQL's"
    ),
]


def test_a_returning_customers_intake_writes_everything_in_few_round_trips() -> None:
    first = OrderFactory()
    agent = UserFactory(tenant=first.tenant, roles=[Role.CUSTOMER_SERVICE])
    notice = current_notice(first.tenant)
    customer = {"name": "欧阳娜娜", "phone": "13912345678", "address": "上海市浦东新区张江路88号"}
    intake = {
        "tenant": first.tenant,
        "actor": agent,
        "customer": customer,
        "items": [{"name": "米饭", "quantity": 1}],
        "privacy_notice_version": notice.version,
        "channel": "phone",
    }
    create_order(**intake)  # warm: key rows and the notice are cached for a while
    with (
        CaptureQueriesContext(connections["default"]) as main,
        CaptureQueriesContext(connections["keystore"]) as keys,
    ):
        again = create_order(**intake).order
    # The test's own transaction turns the intake's into a savepoint: not a round trip
    # of the intake.
    statements = [
        q["sql"].split()[0]
        for q in main.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))
    ]
    with tenant_scope(first.tenant):
        record = NoticeRecord.objects.get(pk=again.notice_record_id)
        transitions = OrderTransition.objects.filter(order=again).count()
        actions = list(
            AuditEvent.objects.order_by("-sequence").values_list("action", flat=True)[:2]
        )
        stored = Order.objects.get(pk=again.pk)
    assert (record.subject_id, stored.subject_id, transitions) == (
        first.subject_id,
        first.subject_id,
        1,
    )
    assert actions == ["order.created", "privacy.subject_matched"]
    assert verify_tenant_chain(first.tenant)[1] is None
    # The blind-index match; notice record + order + status change + chain-head lock;
    # events + head move (BEGIN and COMMIT are not captured). One key read.
    assert (statements, len(keys.captured_queries)) == (["SELECT", "WITH", "WITH"], 1)
