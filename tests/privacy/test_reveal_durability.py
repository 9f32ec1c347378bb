"""A reveal's audit event cannot be rolled back by its caller: reveal (and the phone search)
run in a durable transaction of their own and refuse to run inside a caller's.

Django's TestCase turns durability checks off, so these tests run with real transactions
(``transaction=True``)."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client

from audits.models import AuditEvent
from privacy import reveal as reveal_module
from privacy.errors import RevealDenied, SubjectErasedError
from privacy.models import DataSubject
from privacy.permissions import Purpose
from privacy.reveal import reveal
from privacy.subjects import find_subjects_by_phone
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.factories import DataSubjectFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

NESTED = r"reveal\(\) must run outside any transaction: its audit event would roll back"


class CallerFailed(Exception):
    pass


def _actions(subject: DataSubject) -> list[str]:
    with tenant_scope(subject.tenant):
        return list(
            AuditEvent.objects.filter(action__startswith="privacy.")
            .exclude(action__startswith="privacy.subject_")
            .order_by("sequence")
            .values_list("action", flat=True)
        )


def _officer(subject: DataSubject):  # noqa: ANN202
    return UserFactory(tenant=subject.tenant, roles=[Role.CUSTOMER_SERVICE])


def test_reveal_inside_a_callers_transaction_is_refused_before_decrypting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    subject = DataSubjectFactory()
    user = _officer(subject)

    def no_key(*args: object, **kwargs: object) -> None:
        raise AssertionError("a nested reveal must not open the subject's key")

    monkeypatch.setattr(reveal_module, "subject_cipher", no_key)
    revealed = None
    with pytest.raises(RuntimeError, match=NESTED) as raised, transaction.atomic():
        revealed = reveal(
            subject, fields=["phone"], actor=user, purpose=Purpose.CUSTOMER_SERVICE_CALL
        )
    assert revealed is None
    assert "docs/privacy.md" in str(raised.value)
    assert _actions(subject) == []


def test_the_phone_search_inside_a_callers_transaction_is_refused() -> None:
    subject = DataSubjectFactory(phone="13800138000")
    officer = UserFactory(tenant=subject.tenant, roles=[Role.PRIVACY_OFFICER])
    nested = r"find_subjects_by_phone\(\) must run outside any transaction"
    with pytest.raises(RuntimeError, match=nested), transaction.atomic():
        find_subjects_by_phone(
            tenant=subject.tenant,
            phone="13800138000",
            actor=officer,
            purpose=Purpose.ERASURE_REQUEST,
        )
    assert _actions(subject) == []


def test_the_reveal_event_survives_the_callers_failure_afterwards() -> None:
    subject = DataSubjectFactory(phone="13800138000")
    user = _officer(subject)
    values = reveal(subject, fields=["phone"], actor=user, purpose=Purpose.CUSTOMER_SERVICE_CALL)
    assert values == {"phone": "13800138000"}
    with pytest.raises(CallerFailed), transaction.atomic(), tenant_scope(subject.tenant):
        DataSubject.objects.filter(pk=subject.pk).update(name_masked="x")
        raise CallerFailed
    assert _actions(subject) == ["privacy.reveal"]


def test_a_refused_reveal_is_on_record_after_the_exception() -> None:
    subject = DataSubjectFactory()
    kitchen = UserFactory(tenant=subject.tenant, roles=[Role.KITCHEN])
    with pytest.raises(RevealDenied):
        reveal(subject, fields=["address"], actor=kitchen, purpose=Purpose.DELIVERY)
    # The caller's own transaction, rolled back afterwards, takes nothing with it.
    with pytest.raises(CallerFailed), transaction.atomic():
        raise CallerFailed
    assert _actions(subject) == ["privacy.reveal_denied"]


def test_a_failed_reveal_is_on_record_after_the_exception(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    subject = DataSubjectFactory()
    user = _officer(subject)

    def erased(*args: object, **kwargs: object) -> None:
        raise SubjectErasedError("erased")

    monkeypatch.setattr(reveal_module, "subject_cipher", erased)
    with pytest.raises(SubjectErasedError):
        reveal(subject, fields=["name"], actor=user, purpose=Purpose.CUSTOMER_SERVICE_CALL)
    assert _actions(subject) == ["privacy.reveal_failed"]


def test_a_refused_search_is_on_record_after_the_exception() -> None:
    subject = DataSubjectFactory(phone="13800138000")
    kitchen = UserFactory(tenant=subject.tenant, roles=[Role.KITCHEN])
    with pytest.raises(RevealDenied):
        find_subjects_by_phone(
            tenant=subject.tenant,
            phone="13800138000",
            actor=kitchen,
            purpose=Purpose.ERASURE_REQUEST,
        )
    assert _actions(subject) == ["privacy.search_denied"]


def test_the_erasure_request_admins_search_stays_on_record_when_nothing_matches(
    client: Client,
) -> None:
    """The admin wraps a POST in a transaction; this page does not, so the phone search's
    event is not rolled back with the refused request."""
    subject = DataSubjectFactory(phone="13800138000")
    client.force_login(UserFactory(tenant=subject.tenant, roles=[Role.PRIVACY_OFFICER]))
    response = client.post(
        "/admin/privacy/erasurerequest/add/",
        {"phone": "139 0000 0000", "channel": "in_person", "evidence": "ID card checked"},
        HTTP_ACCEPT_LANGUAGE="en",
        follow=True,
    )
    assert "No single customer has this phone number." in response.content.decode()
    assert _actions(subject) == ["privacy.search"]
