"""Encrypted backups, their verification, and restores that never bring an erased customer
back (end to end on PostgreSQL)."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections

from audits.models import AuditEvent
from orders.models import Order
from privacy.backups import (
    BackupError,
    create_backup,
    list_backups,
    prune_backups,
    verify_backup,
)
from privacy.erasure import erase_subject
from privacy.ledger_file import read_ledger_file
from privacy.models import ErasureLedgerEntry, ErasureReason, SubjectKey
from privacy.permissions import Purpose
from privacy.reveal import reveal
from tenants.actors import SystemActor
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, TenantFactory, UserFactory
from tests.rawdb import read_column

SYSTEM = SystemActor("tests")
# The SQLite test database lives in memory inside each test's transaction, which SQLite's
# backup API would wait on; the demo's file database is backed up by the same code.
pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="backup tests run on PostgreSQL"
)
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="pg_dump/pg_restore need PostgreSQL"
)


@pytest.mark.django_db(databases="__all__")
def test_a_backup_holds_no_plaintext_and_verifies() -> None:
    OrderFactory(
        customer={"name": "欧阳机密", "phone": "13912345678", "address": "上海市浦东新区机密路1号"}
    )
    manifest = create_backup("main")
    data = manifest.path.read_bytes()
    assert (
        verify_backup(manifest) > 0,
        "机密".encode() in data,
        b"13912345678" in data,
        manifest.key_version,
    ) == (
        True,
        False,
        False,
        1,
    )


@pytest.mark.django_db(databases="__all__")
@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_a_flipped_byte_is_refused_with_a_clear_error(where: str) -> None:
    OrderFactory()
    manifest = create_backup("main")
    data = bytearray(manifest.path.read_bytes())
    data[{"start": 40, "middle": len(data) // 2, "end": len(data) - 1}[where]] ^= 0x01
    manifest.path.write_bytes(bytes(data))
    with pytest.raises(BackupError, match="does not match its manifest"):
        verify_backup(manifest)


@pytest.mark.django_db(databases="__all__")
def test_restore_refuses_a_corrupted_backup_and_changes_nothing() -> None:
    order = OrderFactory()
    manifest = create_backup("main")
    data = bytearray(manifest.path.read_bytes())
    data[len(data) // 2] ^= 0x01
    manifest.path.write_bytes(bytes(data))
    OrderFactory(
        tenant=order.tenant,
        customer={"name": "新客", "phone": "13800009999", "address": "北京市朝阳区B路2号"},
    )
    with pytest.raises(
        CommandError, match="Nothing was restored: the backup file .* does not match its manifest"
    ):
        call_command("restore_backup", "--main", manifest.id)
    with tenant_scope(order.tenant):
        assert Order.objects.count() == 2


@pytest.mark.django_db(databases="__all__")
def test_an_altered_manifest_is_refused() -> None:
    OrderFactory()
    manifest = create_backup("main")
    path = manifest.path.with_suffix(".json")
    path.write_text(path.read_text().replace('"key_version": 1', '"key_version": 1 '))
    text = path.read_text().replace(f'"size": {manifest.size}', f'"size": {manifest.size + 1}')
    path.write_text(text)
    assert list_backups() == []


@pytest.mark.django_db(databases="__all__")
def test_verify_backup_command_reports_intact_and_broken_files() -> None:
    OrderFactory()
    manifest = create_backup("main")
    out = io.StringIO()
    call_command("verify_backup", manifest.id, stdout=out)
    manifest.path.write_bytes(manifest.path.read_bytes()[:-10])
    with pytest.raises(CommandError, match="is not usable"):
        call_command("verify_backup", manifest.id)
    assert out.getvalue().startswith(f"{manifest.id} main: intact")


@pytest.mark.django_db(databases="__all__")
def test_pruning_keeps_recent_daily_and_weekly_backups(settings) -> None:
    import datetime as dt

    from django.utils import timezone

    OrderFactory()
    settings.BACKUP_KEEP_DAILY, settings.BACKUP_KEEP_WEEKLY = 2, 1
    made = [create_backup("main") for _ in range(3)]
    removed = prune_backups(now=timezone.now() + dt.timedelta(hours=1))
    assert (len(removed), sorted(m.id for m in list_backups()) != []) == (2, True) and len(
        made
    ) == 3


@on_postgresql
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_restoring_a_backup_taken_before_an_erasure_does_not_resurrect_the_customer() -> None:
    tenant = TenantFactory()
    erased = OrderFactory(
        tenant=tenant,
        customer={"name": "甲", "phone": "13800000001", "address": "北京市朝阳区A路1号"},
    )
    kept = OrderFactory(
        tenant=tenant,
        customer={"name": "乙", "phone": "13800000002", "address": "北京市朝阳区A路2号"},
    )
    main, keys = create_backup("main"), create_backup("keystore")
    entry = erase_subject(
        tenant=tenant,
        subject_id=erased.subject_id,
        reason=ErasureReason.CUSTOMER_REQUEST,
        actor=SYSTEM,
    )
    connections.close_all()

    out = io.StringIO()
    call_command("restore_backup", "--main", main.id, "--keystore", keys.id, stdout=out)

    with tenant_scope(tenant):
        key_back = SubjectKey.objects.filter(pk=erased.subject_id).exists()
        ledger = list(ErasureLedgerEntry.objects.values_list("subject_id", "reference"))
        replayed = AuditEvent.objects.filter(action="privacy.erasure_replayed").count()
        kept_order = Order.objects.get(pk=kept.pk)
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    values = reveal(
        kept_order, fields=["name"], actor=officer, purpose=Purpose.INCIDENT_INVESTIGATION
    )
    assert (key_back, read_column(Order, erased.pk, "name_ct"), ledger, replayed, values) == (
        False,
        b"",
        [(erased.subject_id, entry.reference)],
        1,
        {"name": "乙"},
    )
    assert "replayed 1 erasure(s)" in out.getvalue()
    assert [line["subject"] for line in read_ledger_file()] == [str(erased.subject_id)]


@pytest.mark.django_db(databases="__all__")
def test_restore_refuses_when_the_ledger_lost_entries_the_backup_saw() -> None:
    from django.utils import timezone

    from privacy.backups import backup_dir
    from privacy.ledger_file import LEDGER_FILE, append_ledger_file

    append_ledger_file(
        tenant_id=1,
        subject_id="00000000-0000-0000-0000-000000000001",
        reference="ER-1",
        reason="retention",
        erased_at=timezone.now(),
    )
    OrderFactory()
    manifest = create_backup("main")
    (backup_dir() / LEDGER_FILE).unlink()
    (backup_dir() / "erasure-ledger.head").unlink()
    with pytest.raises(
        CommandError, match="Nothing was restored: the erasure ledger is missing from"
    ):
        call_command("restore_backup", "--main", manifest.id)


@pytest.mark.django_db(databases="__all__")
def test_a_failed_dump_leaves_no_backup_file_and_names_the_cause() -> None:
    from django.db import connections

    from privacy.backups import BackupError, backup_dir, list_backups

    settings_dict = connections["default"].settings_dict
    real = settings_dict["NAME"]
    settings_dict["NAME"] = "baomi_no_such_database"
    try:
        with pytest.raises(BackupError, match="pg_dump failed: .*baomi_no_such_database"):
            create_backup("main")
    finally:
        settings_dict["NAME"] = real
    assert (list_backups(), sorted(p.name for p in backup_dir().glob("*.partial"))) == ([], [])
