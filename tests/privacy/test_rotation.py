"""Key rotation keeps data readable through both rotations, and a retired key opens nothing."""

from __future__ import annotations

import base64
import io
import secrets
import time

import pytest
from django.core.management import call_command
from django.utils import timezone

from privacy.errors import KeyRetiredError
from privacy.keys import clear_key_caches
from privacy.models import DataSubject, KeyPurpose, SubjectKey, TenantKey
from privacy.permissions import Purpose
from privacy.reveal import reveal
from privacy.rotation import rewrap_subject_keys, rotate_master_key, start_tenant_key_rotation
from privacy.tasks import rotate_tenant_subject_keys
from tenants.actors import SystemActor
from tenants.scoping import tenant_scope
from tests.factories import DataSubjectFactory, TenantFactory
from tests.rawdb import read_column, write_column

pytestmark = pytest.mark.django_db(databases="__all__")
SYSTEM = SystemActor("tests")


def _phone(subject: DataSubject) -> str:
    return reveal(subject, fields=["phone"], actor=SYSTEM, purpose=Purpose.CALL_RELAY)["phone"]


def _use_ring(settings, ring: dict[int, bytes]) -> None:
    settings.BAOMI_MASTER_KEY_RING = ring
    clear_key_caches()


@pytest.fixture
def keys() -> dict[int, bytes]:
    return {1: secrets.token_bytes(32), 2: secrets.token_bytes(32)}


def test_master_rotation_keeps_data_readable_without_the_old_master_key(settings, keys) -> None:
    _use_ring(settings, {1: keys[1]})
    subject = DataSubjectFactory(phone="13812345678")
    _use_ring(settings, keys)
    rewrapped = rotate_master_key(tenant=subject.tenant, actor=SYSTEM)
    _use_ring(settings, {2: keys[2]})
    with tenant_scope(subject.tenant):
        versions = set(TenantKey.objects.values_list("master_version", flat=True))
    assert (rewrapped, versions, _phone(subject)) == (2, {2}, "13812345678")


def test_master_rotation_does_not_touch_data_rows(settings, keys) -> None:
    _use_ring(settings, {1: keys[1]})
    subject = DataSubjectFactory()
    before = (
        read_column(DataSubject, subject.pk, "phone_ct"),
        read_column(SubjectKey, subject.pk, "wrapped_key"),
    )
    _use_ring(settings, keys)
    rotate_master_key(tenant=subject.tenant, actor=SYSTEM)
    after = (
        read_column(DataSubject, subject.pk, "phone_ct"),
        read_column(SubjectKey, subject.pk, "wrapped_key"),
    )
    assert after == before


def test_a_retired_master_key_opens_nothing(settings, keys) -> None:
    _use_ring(settings, {1: keys[1]})
    subject = DataSubjectFactory()
    _use_ring(settings, {2: keys[2]})  # version 1 removed before rotating
    with pytest.raises(KeyRetiredError, match="master key version 1 is not in the configured ring"):
        _phone(subject)


def test_tenant_key_rotation_runs_in_resumable_batches() -> None:
    tenant = TenantFactory()
    subjects = [DataSubjectFactory(tenant=tenant) for _ in range(5)]
    before = [_phone(s) for s in subjects]
    key = start_tenant_key_rotation(tenant=tenant, actor=SYSTEM)
    progress = [rewrap_subject_keys(tenant=tenant, actor=SYSTEM, batch_size=2) for _ in range(3)]
    with tenant_scope(tenant):
        versions = set(SubjectKey.objects.values_list("tenant_key_version", flat=True))
    assert (key.version, progress, versions, [_phone(s) for s in subjects]) == (
        2,
        [3, 1, 0],
        {2},
        before,
    )


def test_data_stays_readable_through_tenant_key_rotation() -> None:
    subject = DataSubjectFactory(phone="13812345678")
    start_tenant_key_rotation(tenant=subject.tenant, actor=SYSTEM)
    during = _phone(subject)
    rewrap_subject_keys(tenant=subject.tenant, actor=SYSTEM)
    assert (during, _phone(subject)) == ("13812345678", "13812345678")


def test_starting_again_during_a_rotation_resumes_it() -> None:
    tenant = TenantFactory()
    DataSubjectFactory(tenant=tenant)
    first = start_tenant_key_rotation(tenant=tenant, actor=SYSTEM)
    again = start_tenant_key_rotation(tenant=tenant, actor=SYSTEM)
    assert (first.version, again.version) == (2, 2)


def test_finished_rotation_retires_the_old_tenant_key() -> None:
    subject = DataSubjectFactory()
    start_tenant_key_rotation(tenant=subject.tenant, actor=SYSTEM)
    rewrap_subject_keys(tenant=subject.tenant, actor=SYSTEM)
    with tenant_scope(subject.tenant):
        old = TenantKey.objects.get(purpose=KeyPurpose.DATA, version=1)
    assert (old.retired_at is not None, bytes(old.wrapped_key)) == (True, b"")


def test_a_subject_key_restored_from_before_the_rotation_opens_nothing() -> None:
    subject = DataSubjectFactory()
    old_wrapped = read_column(SubjectKey, subject.pk, "wrapped_key")
    start_tenant_key_rotation(tenant=subject.tenant, actor=SYSTEM)
    rewrap_subject_keys(tenant=subject.tenant, actor=SYSTEM)
    write_column(SubjectKey, subject.pk, "wrapped_key", old_wrapped)
    write_column(SubjectKey, subject.pk, "tenant_key_version", 1)
    with pytest.raises(KeyRetiredError, match="tenant key data v1 is retired"):
        _phone(subject)


def test_rotate_tenant_key_command_inline() -> None:
    tenant = TenantFactory(slug="acme")
    subject = DataSubjectFactory(tenant=tenant, phone="13812345678")
    out = io.StringIO()
    call_command(
        "rotate_tenant_key", "--tenant", "acme", "--inline", "--batch-size", "1", stdout=out
    )
    assert (out.getvalue().splitlines()[-1], _phone(subject)) == (
        "Tenant 'acme' now uses data key version 2.",
        "13812345678",
    )


def test_rotate_master_key_command(settings, keys) -> None:
    _use_ring(settings, {1: keys[1]})
    DataSubjectFactory()
    _use_ring(settings, keys)
    out = io.StringIO()
    call_command("rotate_master_key", stdout=out)
    assert out.getvalue() == "Rewrapped 2 tenant key(s) under master key version 2.\n"


def test_generate_master_key_prints_the_next_version(settings, keys) -> None:
    _use_ring(settings, keys)
    out = io.StringIO()
    call_command("generate_master_key", stdout=out)
    version, key = out.getvalue().strip().split(":")
    assert (version, len(base64.b64decode(key))) == ("3", 32)


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_tenant_key_rotation_runs_on_a_real_worker(worker: str) -> None:
    tenant = TenantFactory()
    subjects = [DataSubjectFactory(tenant=tenant) for _ in range(5)]
    before = [_phone(s) for s in subjects]
    start_tenant_key_rotation(tenant=tenant, actor=SYSTEM)
    rotate_tenant_subject_keys.apply_async(args=[tenant.pk, 2], queue=worker)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with tenant_scope(tenant):
            if not SubjectKey.objects.filter(tenant_key_version=1).exists():
                break
        time.sleep(0.1)
    with tenant_scope(tenant):
        versions = set(SubjectKey.objects.values_list("tenant_key_version", flat=True))
    assert (versions, [_phone(s) for s in subjects]) == ({2}, before)


def test_a_straggler_written_under_the_old_version_is_rewrapped_not_lost() -> None:
    from privacy.rotation import _retire_older_data_keys

    subject = DataSubjectFactory(phone="13812345678")
    start_tenant_key_rotation(tenant=subject.tenant, actor=SYSTEM)
    # As if intake wrote this key under v1 just before retirement began.
    _retire_older_data_keys(subject.tenant, SYSTEM, 2)
    with tenant_scope(subject.tenant):
        version = SubjectKey.objects.get(pk=subject.pk).tenant_key_version
    assert (version, _phone(subject)) == (2, "13812345678")


def test_a_process_that_still_caches_the_retired_version_writes_new_keys_under_the_newest() -> None:
    import uuid

    from privacy.keys import create_subject_key, tenant_key

    tenant = DataSubjectFactory(phone="13812345678").tenant
    stale = tenant_key(tenant, KeyPurpose.DATA)  # this process now caches v1 as the newest
    # Another process rotates and retires v1 (this process's cache is not told).
    from privacy.keys import _tenant_key_rows, create_tenant_key

    create_tenant_key(tenant, KeyPurpose.DATA, 2)
    with tenant_scope(tenant):
        TenantKey.objects.filter(pk=stale.pk).update(retired_at=timezone.now())
    # create_tenant_key told this process; put the stale row back as another process has it.

    _tenant_key_rows.put((tenant.pk, KeyPurpose.DATA, None), stale)
    subject_id = uuid.uuid4()
    create_subject_key(tenant, subject_id)
    with tenant_scope(tenant):
        assert SubjectKey.objects.get(pk=subject_id).tenant_key_version == 2
