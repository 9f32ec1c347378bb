"""On PostgreSQL the audit log and its chain heads refuse TRUNCATE, also through CASCADE,
as the events already refuse UPDATE and DELETE (tests/audits/test_chain.py)."""

from __future__ import annotations

import re

import pytest
from django.db import DatabaseError, connection, transaction

from audits.models import CHAIN_STRIPES
from audits.services import record_event
from audits.verification import verify_tenant_chain
from tenants.actors import SystemActor
from tenants.models import Tenant
from tests.factories import TenantFactory

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the TRUNCATE trigger exists on PostgreSQL only"
    ),
    pytest.mark.django_db,
]
SYSTEM = SystemActor("tests")
REFUSED = "TRUNCATE of {} is not allowed: the audit log and erasure ledger are append-only"


def _tenant_with_events(count: int) -> Tenant:
    tenant = TenantFactory()
    for n in range(count):
        record_event(tenant=tenant, actor=SYSTEM, action="test.event", object_id=str(n))
    return tenant


def _execute(statement: str) -> None:
    """Run ``statement`` in a savepoint, so a refusal leaves the test's transaction usable."""
    with connection.cursor() as cursor:
        # Django's foreign keys are deferred; TRUNCATE refuses tables with pending checks.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)


def _count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed table names
        return int(cursor.fetchone()[0])


@pytest.mark.parametrize(
    ("statement", "table"),
    [
        ("TRUNCATE audits_auditevent", "audits_auditevent"),
        ("TRUNCATE audits_auditevent CASCADE", "audits_auditevent"),
        ("TRUNCATE audits_auditchainhead", "audits_auditchainhead"),
        ("TRUNCATE audits_auditchainhead RESTART IDENTITY CASCADE", "audits_auditchainhead"),
    ],
)
def test_the_database_refuses_to_truncate_the_audit_log(statement: str, table: str) -> None:
    tenant = _tenant_with_events(3)
    with pytest.raises(DatabaseError, match=f"^{re.escape(REFUSED.format(table))}") as raised:
        _execute(statement)
    assert (
        getattr(raised.value.__cause__, "sqlstate", None),
        _count("audits_auditevent"),
        _count("audits_auditchainhead"),
        verify_tenant_chain(tenant),
    ) == ("42501", 3, CHAIN_STRIPES, (3, None))  # 42501: insufficient_privilege


def test_truncating_the_tenants_with_cascade_is_refused_and_keeps_the_audit_log() -> None:
    tenant = _tenant_with_events(2)
    # The cascade reaches all three guarded tables; the first one it reaches is named.
    tables = "audits_auditevent|audits_auditchainhead|privacy_erasureledgerentry"
    refused = re.escape(REFUSED.format("@")).replace("@", f"({tables})")
    with pytest.raises(DatabaseError, match=f"^{refused}"):
        _execute("TRUNCATE tenants_tenant CASCADE")
    assert (
        _count("tenants_tenant"),
        _count("audits_auditevent"),
        _count("audits_auditchainhead"),
        verify_tenant_chain(tenant),
    ) == (1, 2, CHAIN_STRIPES, (2, None))


def test_the_test_harness_setting_lets_truncate_through() -> None:
    """The setting tests/conftest.py turns on inside Django's flush: not a privilege (any
    role that may TRUNCATE may set it), so production relies on grants (docs/privacy.md)."""
    _tenant_with_events(2)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL baomi.allow_truncate = 'on'")
    _execute("TRUNCATE audits_auditevent, audits_auditchainhead")
    assert (_count("audits_auditevent"), _count("audits_auditchainhead")) == (0, 0)
