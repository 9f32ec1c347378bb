"""The evidence pack on a real Celery worker (Redis, solo pool) and the verifying command in
a process of its own without any database (issue 20, point 6)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from audits.evidence_keys import public_key_pem
from audits.evidence_tasks import build_evidence_pack
from audits.models import AuditEvent
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.audits.evidence_helpers import archive_of, built_pack, refreshed, seed_revealed_orders
from tests.factories import EvidencePackFactory, TenantFactory, UserFactory
from tests.subprocess_manage import run_manage


@pytest.fixture(autouse=True)
def packs_in_tmp(settings: Any, tmp_path: Path) -> Path:
    settings.EVIDENCE_PACK_DIR = tmp_path / "evidence-packs"
    return settings.EVIDENCE_PACK_DIR


def _wait(condition: Any, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("the worker did not finish in time")


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_a_real_worker_builds_the_pack_once(worker: str) -> None:
    tenant = TenantFactory()
    seed_revealed_orders(tenant)
    supervisor = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    pack = EvidencePackFactory(tenant=tenant, requested_by=supervisor)
    build_evidence_pack.apply_async(args=[tenant.pk, pack.pk], queue=worker)
    build_evidence_pack.apply_async(args=[tenant.pk, pack.pk], queue=worker)  # run twice
    _wait(lambda: refreshed(pack).state == "done")
    time.sleep(0.5)  # the second run has had its chance
    with tenant_scope(tenant):
        built = AuditEvent.objects.filter(action="evidence.pack_built").count()
    done = refreshed(pack)
    assert (built, archive_of(done).stat().st_size, done.percent) == (1, done.size, 100)


def _without_database(tmp_path: Path) -> dict[str, str]:
    """The environment of a checker's machine: no database reachable, another var/."""
    return {
        **os.environ,
        "BAOMI_ENV": "test",
        "BAOMI_VAR_DIR": str(tmp_path / "elsewhere"),
        "DATABASE_URL": "postgres://nobody@127.0.0.1:9/none",
        "KEYSTORE_DATABASE_URL": "postgres://nobody@127.0.0.1:9/none_keys",
    }


@pytest.mark.django_db(databases="__all__")
def test_the_command_verifies_a_pack_without_a_database(tmp_path: Path) -> None:
    pack = built_pack(TenantFactory())
    key = tmp_path / "evidence.pem"
    key.write_text(public_key_pem())
    result = run_manage(
        "verify_evidence_pack",
        str(archive_of(pack)),
        "--public-key",
        str(key),
        env=_without_database(tmp_path),
    )
    assert (result.returncode, "signature valid" in result.stdout) == (0, True), result.stderr


@pytest.mark.django_db(databases="__all__")
def test_the_command_exits_non_zero_for_another_key(tmp_path: Path) -> None:
    pack = built_pack(TenantFactory())
    # The other var/ makes another development key: the pack was not signed with it.
    result = run_manage(
        "verify_evidence_pack", str(archive_of(pack)), env=_without_database(tmp_path)
    )
    assert (result.returncode, "verification FAILED" in result.stderr) == (1, True)
