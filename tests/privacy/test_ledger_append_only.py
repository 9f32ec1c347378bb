"""On PostgreSQL the erasure ledger refuses TRUNCATE, also through CASCADE, as it already
refuses UPDATE (tests/privacy/test_erasure.py) and DELETE."""

from __future__ import annotations

import re

import pytest
from django.db import DatabaseError, connection, transaction

from privacy.erasure import erase_subject
from privacy.models import ErasureReason
from tenants.actors import SystemActor
from tests.factories import OrderFactory

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the TRUNCATE trigger exists on PostgreSQL only"
    ),
    pytest.mark.django_db(databases="__all__"),
]
SYSTEM = SystemActor("tests")
REFUSED = "TRUNCATE of {} is not allowed: the audit log and erasure ledger are append-only"


def _erase_one() -> None:
    order = OrderFactory()
    erase_subject(
        tenant=order.tenant,
        subject_id=order.subject_id,
        reason=ErasureReason.ADMINISTRATOR,
        actor=SYSTEM,
    )


def _execute(statement: str) -> None:
    """Run ``statement`` in a savepoint, so a refusal leaves the test's transaction usable."""
    with connection.cursor() as cursor:
        # Django's foreign keys are deferred; TRUNCATE refuses tables with pending checks.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)


def _ledger_entries() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM privacy_erasureledgerentry")
        return int(cursor.fetchone()[0])


@pytest.mark.parametrize(
    "statement",
    [
        "TRUNCATE privacy_erasureledgerentry CASCADE",
        # The ledger with every table that references it, so no CASCADE is needed.
        "TRUNCATE privacy_erasureledgerentry, privacy_erasurerequest, privacy_erasurechallenge",
    ],
)
def test_the_database_refuses_to_truncate_the_ledger(statement: str) -> None:
    _erase_one()
    refused = f"^{re.escape(REFUSED.format('privacy_erasureledgerentry'))}"
    with pytest.raises(DatabaseError, match=refused) as raised:
        _execute(statement)
    assert (getattr(raised.value.__cause__, "sqlstate", None), _ledger_entries()) == ("42501", 1)


def test_a_bare_truncate_of_the_ledger_is_refused_before_the_trigger_by_a_foreign_key() -> None:
    """Erasure requests reference the ledger, so PostgreSQL's own check stops this first."""
    _erase_one()
    refused = "^cannot truncate a table referenced in a foreign key constraint"
    with pytest.raises(DatabaseError, match=refused):
        _execute("TRUNCATE privacy_erasureledgerentry")
    assert _ledger_entries() == 1


def test_truncating_the_tenants_with_cascade_is_refused_and_keeps_the_ledger() -> None:
    _erase_one()
    # The cascade reaches all three guarded tables; the first one it reaches is named.
    tables = "audits_auditevent|audits_auditchainhead|privacy_erasureledgerentry"
    refused = re.escape(REFUSED.format("@")).replace("@", f"({tables})")
    with pytest.raises(DatabaseError, match=f"^{refused}"):
        _execute("TRUNCATE tenants_tenant CASCADE")
    assert _ledger_entries() == 1
