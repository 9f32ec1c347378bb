from __future__ import annotations

import pytest

from audits.models import AuditEvent
from privacy.blind_index import BITS, phone_index
from privacy.errors import RevealDenied
from privacy.models import DataSubject
from privacy.permissions import Purpose
from privacy.subjects import find_subjects_by_phone
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.factories import DataSubjectFactory, TenantFactory, UserFactory
from tests.rawdb import write_column

pytestmark = pytest.mark.django_db(databases="__all__")


def _search(tenant, phone: str, role: Role = Role.CUSTOMER_SERVICE) -> list[DataSubject]:
    agent = UserFactory(tenant=tenant, roles=[role])
    return find_subjects_by_phone(
        tenant=tenant, phone=phone, actor=agent, purpose=Purpose.CUSTOMER_SERVICE_CALL
    )


def test_search_finds_the_customer_whatever_the_phone_format() -> None:
    subject = DataSubjectFactory(phone="13812345678")
    assert _search(subject.tenant, "+86 138-1234-5678") == [subject]


def test_search_never_finds_another_tenants_customer() -> None:
    DataSubjectFactory(phone="13812345678")
    assert _search(TenantFactory(), "13812345678") == []


def test_false_positives_of_the_truncated_index_are_discarded() -> None:
    subject = DataSubjectFactory(phone="13812345678")
    other = DataSubjectFactory(tenant=subject.tenant, phone="13987654321")
    write_column(DataSubject, other.pk, "phone_bidx", subject.phone_bidx)  # force a collision
    assert _search(subject.tenant, "13812345678") == [subject]


def test_the_candidates_keys_are_read_in_one_query_and_an_erased_one_is_skipped() -> None:
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    from privacy.keys import destroy_subject_key

    subject = DataSubjectFactory(phone="13812345678")
    others = [DataSubjectFactory(tenant=subject.tenant, phone=f"1398765432{n}") for n in range(4)]
    for other in others:  # one bucket for all five, as in a large tenant
        write_column(DataSubject, other.pk, "phone_bidx", subject.phone_bidx)
    destroy_subject_key(subject.tenant, others[0].pk)  # erased since: no key any more
    with CaptureQueriesContext(connections["keystore"]) as keys:
        found = _search(subject.tenant, "13812345678")
    reads = [q for q in keys.captured_queries if q["sql"].startswith("SELECT")]
    assert (found, len(reads)) == ([subject], 1)


def test_search_is_audited_with_its_candidate_count() -> None:
    subject = DataSubjectFactory(phone="13812345678")
    _search(subject.tenant, "13812345678")
    with tenant_scope(subject.tenant):
        event = AuditEvent.objects.order_by("-sequence").first()
    assert (event.action, event.details) == (
        "privacy.search",
        {"candidates": 1, "matches": [str(subject.pk)]},
    )


def test_roles_that_may_not_see_phones_may_not_search_by_phone() -> None:
    subject = DataSubjectFactory()
    with pytest.raises(RevealDenied):
        _search(subject.tenant, "13812345678", role=Role.KITCHEN)


def test_index_values_are_truncated_to_the_documented_width() -> None:
    values = {phone_index(b"k" * 32, f"1380000{n:04d}") for n in range(5000)}
    assert (max(values) < 2**BITS, BITS) == (True, 14)


def test_index_depends_on_the_tenants_key() -> None:
    assert phone_index(b"a" * 32, "13812345678") != phone_index(b"b" * 32, "13812345678")


def test_search_returns_whole_rows_not_the_partial_ones_it_compared() -> None:
    subject = DataSubjectFactory(phone="13812345678")
    (found,) = _search(subject.tenant, "13812345678")
    assert (found.get_deferred_fields(), found.phone_masked) == (set(), subject.phone_masked)
