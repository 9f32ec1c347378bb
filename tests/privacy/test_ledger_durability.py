"""No resurrection, ever: the file ledger is written ahead of every erasure, a failed write
stops the erasure and is audited, the reconcile job closes every gap, and a restore cannot
forget (issue 14)."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.utils import timezone

from audits.models import AuditEvent
from orders.models import Order
from privacy.backups import create_backup
from privacy.erasure import erase_subject, erase_subjects
from privacy.errors import SubjectErasedError
from privacy.ledger import ledger_copy_entries, reconcile_ledger
from privacy.ledger_file import (
    HEAD_FILE,
    LEDGER_FILE,
    LedgerWriteError,
    append_ledger_file,
    backup_dir,
    ensure_ledger,
    read_ledger_file,
)
from privacy.models import DataSubject, ErasureLedgerEntry, ErasureReason, SubjectKey
from privacy.permissions import Purpose
from privacy.retention import set_retention_days
from privacy.reveal import reveal
from tenants.actors import SystemActor
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, TenantFactory, UserFactory
from tests.rawdb import read_column

SYSTEM = SystemActor("tests")
ROOT = Path(__file__).resolve().parents[2]
# Backups of SQLite's in-memory test database would wait on the test's own transaction (the
# demo's file database is backed up by the same code); backups are tested on PostgreSQL.
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="pg_dump/pg_restore need PostgreSQL"
)


def _customer(n: int) -> dict[str, str]:
    return {"name": f"客{n}", "phone": f"1390000{n:04d}", "address": f"北京市朝阳区A路{n}号"}


def _events(tenant, action: str) -> list[dict]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(action=action).values_list("details", flat=True))


def _key_exists(order: Order) -> bool:
    with tenant_scope(order.tenant):
        return SubjectKey.objects.filter(pk=order.subject_id).exists()


def _intent(
    *,
    subject_id: str,
    reference: str,
    tenant_id: int = 1,
    reason: str = "retention",
    erased_at: datetime | None = None,
) -> None:
    """An intent in the file ledger, as erase_subjects writes it ahead."""
    append_ledger_file(
        tenant_id=tenant_id,
        subject_id=subject_id,
        reference=reference,
        reason=reason,
        erased_at=erased_at or timezone.now(),
    )


def _stays_erased(order: Order) -> tuple[bool, bytes, bool]:
    """(key present, name ciphertext, a privacy officer can still read the name)."""
    officer = UserFactory(tenant=order.tenant, roles=[Role.PRIVACY_OFFICER])
    with tenant_scope(order.tenant):
        fresh = Order.objects.get(pk=order.pk)
    try:
        reveal(fresh, fields=["name"], actor=officer, purpose=Purpose.INCIDENT_INVESTIGATION)
        readable = True
    except SubjectErasedError:
        readable = False
    return _key_exists(order), read_column(Order, order.pk, "name_ct"), readable


# --- written ahead; a failed write stops the erasure ----------------------------------------


@pytest.mark.django_db(databases="__all__")
def test_each_erasure_writes_its_intent_with_the_reference_of_the_database_entry() -> None:
    order = OrderFactory(customer=_customer(1))
    entry = erase_subject(
        tenant=order.tenant,
        subject_id=order.subject_id,
        reason=ErasureReason.CUSTOMER_REQUEST,
        actor=SYSTEM,
    )
    (line,) = read_ledger_file()
    assert (line["subject"], line["reference"], line["reason"], line["kind"]) == (
        str(order.subject_id),
        entry.reference,
        "customer_request",
        "intent",
    )


@pytest.mark.django_db(databases="__all__")
def test_a_full_disk_stops_the_erasure_before_the_key_is_destroyed_and_is_audited() -> None:
    order = OrderFactory(customer=_customer(2))
    ensure_ledger()
    ledger = backup_dir() / LEDGER_FILE
    ledger.unlink()
    ledger.symlink_to("/dev/full")  # every write: ENOSPC, as on a full disk
    with pytest.raises(
        LedgerWriteError, match="could not be written \\(No space left on device\\)"
    ):
        erase_subject(
            tenant=order.tenant,
            subject_id=order.subject_id,
            reason=ErasureReason.RETENTION,
            actor=SYSTEM,
        )
    with tenant_scope(order.tenant):
        erased = DataSubject.objects.get(pk=order.subject_id).erased_at
        entries = ErasureLedgerEntry.objects.count()
    (failure,) = _events(order.tenant, "privacy.ledger_write_failed")
    assert (_key_exists(order), erased, entries, failure["subjects"]) == (True, None, 0, 1)
    assert "No space left on device" in failure["error"]


@pytest.mark.django_db(databases="__all__")
def test_an_unwritable_ledger_folder_stops_the_erasure(tmp_path: Path) -> None:
    order = OrderFactory(customer=_customer(3))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    settings.BACKUP_DIR = blocker / "backups"
    with pytest.raises(LedgerWriteError, match="could not be written"):
        erase_subject(
            tenant=order.tenant,
            subject_id=order.subject_id,
            reason=ErasureReason.RETENTION,
            actor=SYSTEM,
        )
    assert (_key_exists(order), len(_events(order.tenant, "privacy.ledger_write_failed"))) == (
        True,
        1,
    )


@pytest.mark.django_db(databases="__all__")
def test_an_altered_ledger_stops_every_erasure() -> None:
    first, second = OrderFactory(customer=_customer(4)), OrderFactory(customer=_customer(5))
    erase_subject(
        tenant=first.tenant,
        subject_id=first.subject_id,
        reason=ErasureReason.RETENTION,
        actor=SYSTEM,
    )
    ledger = backup_dir() / LEDGER_FILE
    ledger.write_text(ledger.read_text().replace("retention", "staff_request"))
    (backup_dir() / HEAD_FILE).write_text("{}")  # the head no longer vouches for the size
    with pytest.raises(LedgerWriteError, match="cannot be extended: .* failed authentication"):
        erase_subject(
            tenant=second.tenant,
            subject_id=second.subject_id,
            reason=ErasureReason.RETENTION,
            actor=SYSTEM,
        )
    assert _key_exists(second) is True


def test_ledger_files_are_private() -> None:
    _intent(subject_id="00000000-0000-0000-0000-000000000009", reference="ER-T")
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in backup_dir().iterdir()}
    assert (modes, stat.S_IMODE(backup_dir().stat().st_mode)) == (
        {LEDGER_FILE: 0o600, HEAD_FILE: 0o600, "erasure-ledger.lock": 0o600},
        0o700,
    )


def test_the_ledger_still_reads_after_the_backup_key_ring_gains_a_version() -> None:
    _intent(subject_id="00000000-0000-0000-0000-000000000008", reference="ER-T")
    settings.BAOMI_BACKUP_KEY_RING = {**settings.BAOMI_BACKUP_KEY_RING, 2: os.urandom(32)}
    _intent(subject_id="00000000-0000-0000-0000-000000000007", reference="ER-U")
    assert [(line["reference"], line["v"]) for line in read_ledger_file()] == [
        ("ER-T", 1),
        ("ER-U", 2),
    ]


# --- reconcile -------------------------------------------------------------------------------


@pytest.mark.django_db(databases="__all__")
def test_reconcile_appends_database_entries_the_file_lacks() -> None:
    order = OrderFactory(customer=_customer(6))
    # As a crash or an older version would leave it: in the database ledger, not the file.
    entry = erase_subjects(
        tenant=order.tenant,
        subject_ids=[order.subject_id],
        reason=ErasureReason.RETENTION,
        actor=SYSTEM,
        record_in_file=False,
    )[order.subject_id]
    ensure_ledger()
    first, second = reconcile_ledger(), reconcile_ledger()
    (line,) = read_ledger_file()
    assert (first.appended, second.appended, line["subject"], line["reference"], line["kind"]) == (
        1,
        0,
        str(order.subject_id),
        entry.reference,
        "reconciled",
    )
    assert _events(order.tenant, "privacy.ledger_reconciled") == [
        {"appended": 1, "finished": 0, "rebuilt": False}
    ]


@pytest.mark.django_db(databases="__all__")
def test_reconcile_finishes_an_intent_whose_erasure_never_committed() -> None:
    stranded, fresh = OrderFactory(customer=_customer(7)), OrderFactory(customer=_customer(8))
    for order, age, reference in (
        (stranded, timedelta(hours=1), "ER-STRANDED"),
        (fresh, timedelta(seconds=5), "ER-FRESH"),
    ):
        _intent(
            tenant_id=order.tenant_id,
            subject_id=str(order.subject_id),
            reference=reference,
            reason="staff_request",
            erased_at=timezone.now() - age,
        )
    result = reconcile_ledger()
    with tenant_scope(stranded.tenant):
        entry = ErasureLedgerEntry.objects.get(subject_id=stranded.subject_id)
    assert (result.finished, entry.reference, entry.reason, _key_exists(fresh)) == (
        1,
        "ER-STRANDED",
        "staff_request",
        True,  # younger than the grace period: its erasure may be committing right now
    )


# --- a restore cannot forget ---------------------------------------------------------------


@on_postgresql
@pytest.mark.django_db(databases="__all__")
def test_a_backup_records_the_ledger_and_keeps_an_encrypted_copy_beside_it() -> None:
    order = OrderFactory(customer=_customer(9))
    erase_subject(
        tenant=order.tenant,
        subject_id=order.subject_id,
        reason=ErasureReason.RETENTION,
        actor=SYSTEM,
    )
    manifest = create_backup("main")
    copy = ledger_copy_entries(manifest)
    raw = manifest.ledger_path.read_bytes()
    modes = {
        p.name.split(".", 1)[1]: stat.S_IMODE(p.stat().st_mode)
        for p in backup_dir().glob(f"{manifest.id}.*")
    }
    assert (
        manifest.ledger_entries,
        manifest.ledger_head == read_ledger_file()[-1]["mac"],
        [line["subject"] for line in copy or []],
        str(order.subject_id).encode() in raw,
        modes,
    ) == (
        1,
        True,
        [str(order.subject_id)],
        False,
        {"main.bak": 0o600, "main.ledger": 0o600, "main.json": 0o600},
    )


@on_postgresql
@pytest.mark.django_db(databases="__all__")
def test_restore_refuses_when_the_ledger_file_is_missing_and_restores_nothing() -> None:
    order = OrderFactory(customer=_customer(10))
    manifest = create_backup("main")
    (backup_dir() / LEDGER_FILE).unlink()
    OrderFactory(tenant=order.tenant, customer=_customer(11))
    with pytest.raises(CommandError) as refused:
        call_command("restore_backup", "--main", manifest.id)
    with tenant_scope(order.tenant):
        orders = Order.objects.count()
    assert (str(refused.value).split(":")[0], orders) == ("Nothing was restored", 2)
    assert "the erasure ledger is missing from" in str(refused.value)
    assert "--accept-erasure-loss" in str(refused.value)


@on_postgresql
@pytest.mark.django_db(databases="__all__")
def test_restore_refuses_a_ledger_that_lacks_what_the_backups_copy_records() -> None:
    order = OrderFactory(customer=_customer(12))
    # An intent the database never recorded: only the file ledger (and its copies) know it.
    _intent(
        tenant_id=order.tenant_id,
        subject_id="00000000-0000-0000-0000-0000000000aa",
        reference="ER-INTENT",
    )
    manifest = create_backup("main")
    # Another ledger of the same length: the one the backup saw was replaced.
    for name in (LEDGER_FILE, HEAD_FILE):
        (backup_dir() / name).unlink()
    _intent(
        tenant_id=order.tenant_id,
        subject_id="00000000-0000-0000-0000-000000000001",
        reference="ER-OTHER",
    )
    with pytest.raises(
        CommandError, match="Nothing was restored: the erasure ledger lacks 1 erasure"
    ):
        call_command("restore_backup", "--main", manifest.id)


@on_postgresql
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_accepting_erasure_loss_restores_replays_the_backups_copies_and_is_audited() -> None:
    tenant = TenantFactory()
    erased = OrderFactory(tenant=tenant, customer=_customer(13))
    kept = OrderFactory(tenant=tenant, customer=_customer(14))
    main = create_backup("main")  # before the erasure
    erase_subject(
        tenant=tenant, subject_id=erased.subject_id, reason=ErasureReason.RETENTION, actor=SYSTEM
    )
    keys = create_backup("keystore")  # after it: its ledger copy records the erasure
    for name in (LEDGER_FILE, HEAD_FILE):
        (backup_dir() / name).unlink()
    connections.close_all()
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "restore_backup",
        "--main",
        main.id,
        "--keystore",
        keys.id,
        "--accept-erasure-loss",
        "ledger volume lost in the disk failure of 29 Nov",
        stdout=out,
        stderr=err,
    )
    (accepted,) = _events(tenant, "privacy.erasure_loss_accepted")
    assert (
        _stays_erased(erased)[::2],
        accepted["reason"],
        "replayed 1 erasure(s)" in out.getvalue(),
        [line["subject"] for line in read_ledger_file()],
        _key_exists(kept),
    ) == (
        (False, False),
        "ledger volume lost in the disk failure of 29 Nov",
        True,
        [str(erased.subject_id)],  # the new ledger, started from the restored database
        True,
    )
    assert "Restored with erasures possibly lost" in err.getvalue()


@on_postgresql
@pytest.mark.django_db(databases="__all__")
@pytest.mark.parametrize("reason", ["", "   ", "x" * 301])
def test_accepting_erasure_loss_needs_a_reason(reason: str) -> None:
    OrderFactory()
    manifest = create_backup("main")
    with pytest.raises(CommandError, match="needs a reason of 1 to 300 characters"):
        call_command("restore_backup", "--main", manifest.id, "--accept-erasure-loss", reason)


# --- SIGKILL at every step after the erasure begins -------------------------------------


def _database_url(alias: str) -> str:
    config = connections[alias].settings_dict
    host, port = config.get("HOST") or "127.0.0.1", config.get("PORT") or 5432
    password = f":{config['PASSWORD']}" if config.get("PASSWORD") else ""
    return f"postgres://{config.get('USER') or 'postgres'}{password}@{host}:{port}/{config['NAME']}"


def _crash(*args: object) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "BAOMI_ENV": "test",
        "DATABASE_URL": _database_url("default"),
        "KEYSTORE_DATABASE_URL": _database_url("keystore"),
        "BACKUP_DIR": str(settings.BACKUP_DIR),
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "tests" / "privacy" / "crash_erasure.py"), *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@on_postgresql
@pytest.mark.django_db(databases="__all__", transaction=True)
@pytest.mark.parametrize("point", ["after-intent", "after-keys", "after-commit"])
@pytest.mark.parametrize("path", ["staff", "sweep"])
def test_a_process_killed_during_an_erasure_never_lets_a_restore_bring_the_customer_back(
    point: str, path: str
) -> None:
    tenant = TenantFactory()
    order = OrderFactory(tenant=tenant, customer=_customer(20))
    other = OrderFactory(tenant=tenant, customer=_customer(21))
    main, keys = create_backup("main"), create_backup("keystore")
    if path == "staff":
        officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
        args: tuple[object, ...] = (point, "staff", tenant.pk, order.subject_id, officer.pk)
    else:
        from tests.privacy.test_erasure import _finish

        set_retention_days(tenant=tenant, days=0, actor=SYSTEM)
        _finish(order, days_ago=1)
        args = (point, "sweep", tenant.pk)
    connections.close_all()

    died = _crash(*args)
    assert died.returncode == -9, died.stderr[-2000:]

    out = io.StringIO()
    call_command("restore_backup", "--main", main.id, "--keystore", keys.id, stdout=out)
    assert (_stays_erased(order), _stays_erased(other)[0]) == ((False, b"", False), True)
    with tenant_scope(tenant):
        entries = list(ErasureLedgerEntry.objects.values_list("subject_id", flat=True))
    assert entries == [order.subject_id]


@pytest.mark.django_db(databases="__all__")
def test_the_hourly_reconcile_job_fills_the_file_in() -> None:
    from privacy.tasks import reconcile_erasure_ledger

    order = OrderFactory(customer=_customer(30))
    erase_subjects(
        tenant=order.tenant,
        subject_ids=[order.subject_id],
        reason=ErasureReason.RETENTION,
        actor=SYSTEM,
        record_in_file=False,
    )
    reconcile_erasure_ledger.apply()
    assert [line["subject"] for line in read_ledger_file()] == [str(order.subject_id)]


@pytest.mark.django_db(databases="__all__")
def test_a_damaged_ledger_fails_the_job_and_alerts_every_tenant() -> None:
    from privacy.tasks import reconcile_erasure_ledger

    order = OrderFactory(customer=_customer(31))
    ensure_ledger()
    (backup_dir() / HEAD_FILE).unlink()
    result = reconcile_erasure_ledger.apply()
    (alert,) = _events(order.tenant, "privacy.ledger_damaged")
    assert (result.failed(), alert["error"]) == (
        True,
        f"the erasure ledger is missing from {backup_dir()} (erasure-ledger.head)",
    )


# --- the start-up check of processes that erase ----------------------------------------------


def _start_in_production(
    tmp_path: Path, backup_dir: Path, *command: str
) -> subprocess.CompletedProcess[str]:
    """Start ``python <command>`` with production settings and ``BACKUP_DIR``."""
    from tests.test_settings import production_env

    return subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        env=production_env(tmp_path, BACKUP_DIR=str(backup_dir)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _under_a_file(tmp_path: Path) -> Path:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    return blocker / "backups"  # cannot be created: its parent is a file


def test_a_production_web_process_refuses_to_start_without_a_writable_ledger(
    tmp_path: Path,
) -> None:
    result = _start_in_production(tmp_path, _under_a_file(tmp_path), "-c", "import config.wsgi")
    assert result.returncode != 0
    assert "The erasure ledger's folder BACKUP_DIR" in result.stderr
    assert "is not writable by this process" in result.stderr


def test_a_production_web_process_starts_with_a_writable_ledger(tmp_path: Path) -> None:
    result = _start_in_production(tmp_path, tmp_path / "backups", "-c", "import config.wsgi")
    assert (result.returncode, result.stderr) == (0, "")


def test_a_production_worker_refuses_to_start_without_a_writable_ledger(tmp_path: Path) -> None:
    result = _start_in_production(
        tmp_path,
        _under_a_file(tmp_path),
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--pool",
        "solo",
    )
    assert result.returncode != 0
    assert "baomi: The erasure ledger's folder BACKUP_DIR" in result.stderr
