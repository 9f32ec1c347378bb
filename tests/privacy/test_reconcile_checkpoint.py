"""The sweep's reconcile reads only what the file ledger gained since the last reconcile
(issue 21, point 6): the checkpoint never lets a stranded intent or a database entry the file
lacks go unhandled, and anything that does not continue it sends the reconcile back to a
full read."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from privacy.backup_store import BackupError
from privacy.erasure import erase_subject
from privacy.ledger import reconcile_ledger
from privacy.ledger_file import (
    CHECKPOINT_FILE,
    LEDGER_FILE,
    append_ledger_file,
    backup_dir,
    read_checkpoint,
    read_ledger_file,
)
from privacy.models import DataSubject, ErasureLedgerEntry, ErasureReason, SubjectKey
from tenants.actors import SystemActor
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, TenantFactory

pytestmark = pytest.mark.django_db(databases="__all__")
SYSTEM = SystemActor("tests")


def _customer(n: int) -> dict[str, str]:
    return {"name": f"客{n}", "phone": f"1361234{n:04d}", "address": f"北京市朝阳区C路{n}号"}


def _erased(order) -> bool:
    with tenant_scope(order.tenant):
        erased = DataSubject.objects.get(pk=order.subject_id).erased_at is not None
        key = SubjectKey.objects.filter(pk=order.subject_id).exists()
    return erased and not key


def test_the_checkpoint_moves_past_settled_lines_only() -> None:
    tenant = TenantFactory()
    first, second = (OrderFactory(tenant=tenant, customer=_customer(n)) for n in (1, 2))
    erase_subject(
        tenant=tenant, subject_id=first.subject_id, reason=ErasureReason.RETENTION, actor=SYSTEM
    )
    # An intent younger than the grace period: its erasure may be committing right now.
    append_ledger_file(
        tenant_id=tenant.pk,
        subject_id=str(second.subject_id),
        reference="ER-PENDING0001",
        reason="retention",
        erased_at=timezone.now(),
    )
    later = timezone.now() + timedelta(minutes=11)
    reconcile_ledger(now=later - timedelta(minutes=10, seconds=30))  # full: writes it
    checkpoint = read_checkpoint()
    assert checkpoint is not None and checkpoint.count == 0  # the young intent holds it back
    assert not _erased(second)

    # Eleven minutes on, the incremental reconcile finishes the stranded intent.
    assert reconcile_ledger(now=later, incremental=True).finished == 1
    assert _erased(second)
    moved = read_checkpoint()
    assert moved is not None and moved.count == 2 and moved.high[tenant.pk] > 0


def test_a_database_entry_the_file_lacks_after_the_checkpoint_is_appended() -> None:
    tenant = TenantFactory()
    reconcile_ledger()
    order = OrderFactory(tenant=tenant, customer=_customer(3))
    # Erased without its intent (as a replay does), after the checkpoint.
    erase_subject(
        tenant=tenant,
        subject_id=order.subject_id,
        reason=ErasureReason.RETENTION,
        actor=SYSTEM,
        record_in_file=False,
    )
    result = reconcile_ledger(incremental=True)
    assert result.appended == 1
    subjects = [line["subject"] for line in read_ledger_file()]
    assert subjects == [str(order.subject_id)]


def test_a_new_ledger_or_an_altered_tail_is_never_read_from_the_checkpoint() -> None:
    tenant = TenantFactory()
    order = OrderFactory(tenant=tenant, customer=_customer(4))
    erase_subject(
        tenant=tenant, subject_id=order.subject_id, reason=ErasureReason.RETENTION, actor=SYSTEM
    )
    reconcile_ledger(now=timezone.now() + timedelta(hours=1))
    assert read_checkpoint() is not None
    # A forged checkpoint (not signed with the ledger's key) is ignored.
    path = backup_dir() / CHECKPOINT_FILE
    forged = json.loads(path.read_text())
    forged["count"] = 99
    path.write_text(json.dumps(forged))
    assert read_checkpoint() is None

    # An altered line after the checkpoint stops the reconcile.
    reconcile_ledger(now=timezone.now() + timedelta(hours=1))
    other = OrderFactory(tenant=tenant, customer=_customer(5))
    erase_subject(
        tenant=tenant, subject_id=other.subject_id, reason=ErasureReason.RETENTION, actor=SYSTEM
    )
    ledger = backup_dir() / LEDGER_FILE
    text = ledger.read_text()
    ledger.write_text(text.replace("retention", "retentioN", 2))
    with pytest.raises(BackupError, match="failed authentication"):
        reconcile_ledger(incremental=True)

    # A lost ledger starts again from the database, whatever the checkpoint said.
    ledger.unlink()
    (backup_dir() / "erasure-ledger.head").unlink()
    result = reconcile_ledger(incremental=True)
    assert result.appended == 2
    with tenant_scope(tenant):
        assert ErasureLedgerEntry.objects.count() == 2
    assert {line["subject"] for line in read_ledger_file()} == {
        str(order.subject_id),
        str(other.subject_id),
    }
