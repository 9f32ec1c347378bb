from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from privacy.housekeeping import collect_orphaned_keys_of
from privacy.keys import create_subject_key
from privacy.models import SubjectKey
from privacy.tasks import collect_orphaned_subject_keys
from tenants.scoping import tenant_scope
from tests.factories import DataSubjectFactory, TenantFactory
from tests.rawdb import write_column

pytestmark = pytest.mark.django_db(databases="__all__")


def _orphan(tenant, *, age: timedelta) -> uuid.UUID:
    """A key whose row was never written (the process died between the two writes)."""
    subject_id = uuid.uuid4()
    create_subject_key(tenant, subject_id)
    write_column(SubjectKey, subject_id, "created_at", timezone.now() - age)
    return subject_id


def _key_ids(tenant) -> set[uuid.UUID]:
    with tenant_scope(tenant):
        return set(SubjectKey.objects.values_list("id", flat=True))


def test_old_orphaned_keys_are_collected_and_live_ones_kept() -> None:
    live = DataSubjectFactory()
    tenant = live.tenant
    write_column(SubjectKey, live.pk, "created_at", timezone.now() - timedelta(days=2))
    _orphan(tenant, age=timedelta(hours=2))
    young = _orphan(tenant, age=timedelta(minutes=5))
    collected = collect_orphaned_keys_of(tenant)
    assert (collected, _key_ids(tenant)) == (1, {live.pk, young})


def test_orphan_collection_stays_inside_each_tenant() -> None:
    ours, theirs = TenantFactory(), DataSubjectFactory()
    write_column(SubjectKey, theirs.pk, "created_at", timezone.now() - timedelta(days=2))
    _orphan(ours, age=timedelta(hours=2))
    collect_orphaned_keys_of(ours)
    assert _key_ids(theirs.tenant) == {theirs.pk}


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_orphan_collection_runs_on_a_real_worker(worker: str) -> None:
    tenant = TenantFactory()
    orphan = _orphan(tenant, age=timedelta(hours=2))
    collect_orphaned_subject_keys.apply_async(queue=worker)
    deadline = time.monotonic() + 20
    while orphan in _key_ids(tenant) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _key_ids(tenant) == set()
