"""The vault stores personal data only as ciphertext bound to its tenant, table, field and
row, and every failure to open it is specific and audited."""

from __future__ import annotations

import uuid

import pytest

from audits.models import AuditEvent
from privacy.errors import DecryptionIntegrityError, SubjectErasedError
from privacy.keys import SubjectCipher, destroy_subject_key
from privacy.models import DataSubject, KeyPurpose, SubjectKey, TenantKey
from privacy.permissions import Purpose
from privacy.reveal import reveal
from tenants.actors import SystemActor
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tests.factories import DataSubjectFactory
from tests.rawdb import all_stored_values, read_column, write_column

pytestmark = pytest.mark.django_db(databases="__all__")
SYSTEM = SystemActor("tests")
SECRETS = {
    "name": "欧阳机密娜",
    "phone": "13912345678",
    "address": "上海市浦东新区机密路88号7栋1201室",
    "note": "门口暗号是青山绿水",
}


def refreshed(subject: DataSubject) -> DataSubject:
    with tenant_scope(subject.tenant):
        subject.refresh_from_db()
    return subject


def _reveal_phone(subject: DataSubject) -> dict[str, str]:
    return reveal(subject, fields=["phone"], actor=SYSTEM, purpose=Purpose.CALL_RELAY)


def _actions(tenant: Tenant) -> list[tuple[str, dict]]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.order_by("sequence").values_list("action", "details"))


def _contains_secret(value: object) -> bool:
    if isinstance(value, memoryview | bytes | bytearray):
        raw = bytes(value)
        return any(secret.encode() in raw for secret in SECRETS.values())
    return any(secret in str(value) for secret in SECRETS.values())


@pytest.mark.parametrize("alias", ["default", "keystore"])
def test_no_table_of_either_database_holds_personal_data_in_clear(alias: str) -> None:
    subject = DataSubjectFactory(**{**SECRETS, "phone": "+86 139-1234-5678"})
    _reveal_phone(subject)  # a reveal writes audit rows too
    assert [v for v in all_stored_values(alias) if _contains_secret(v)] == []


def test_stored_customer_reveals_its_own_values() -> None:
    subject = DataSubjectFactory(**SECRETS)
    values = reveal(subject, fields=["phone"], actor=SYSTEM, purpose=Purpose.IDENTITY_VERIFICATION)
    assert values == {"phone": SECRETS["phone"]}


def test_lists_show_masks_computed_at_write_time() -> None:
    subject = DataSubjectFactory(**SECRETS)
    assert (subject.name_masked, subject.phone_masked, subject.address_masked) == (
        "欧阳***",
        "139****5678",
        "上海市浦东新区机密路****",
    )


def test_subject_key_is_stored_in_the_key_store_not_the_main_database() -> None:
    subject = DataSubjectFactory()
    with tenant_scope(subject.tenant):
        assert SubjectKey.objects.using("keystore").filter(pk=subject.pk).count() == 1


def test_ciphertext_copied_from_another_subject_fails_and_is_audited() -> None:
    first = DataSubjectFactory()
    second = DataSubjectFactory(tenant=first.tenant)
    write_column(DataSubject, second.pk, "phone_ct", read_column(DataSubject, first.pk, "phone_ct"))
    with pytest.raises(DecryptionIntegrityError, match=r"\(field\)"):
        _reveal_phone(refreshed(second))
    assert _actions(first.tenant)[-1] == (
        "privacy.integrity_failure",
        {"error": "DecryptionIntegrityError", "layer": "field"},
    )


def test_ciphertext_copied_into_another_field_of_the_same_row_fails() -> None:
    subject = DataSubjectFactory()
    write_column(
        DataSubject, subject.pk, "phone_ct", read_column(DataSubject, subject.pk, "note_ct")
    )
    with pytest.raises(DecryptionIntegrityError, match=r"\(field\)"):
        _reveal_phone(refreshed(subject))


def test_ciphertext_copied_from_another_tenant_fails_and_is_audited() -> None:
    theirs, ours = DataSubjectFactory(), DataSubjectFactory()
    write_column(DataSubject, ours.pk, "phone_ct", read_column(DataSubject, theirs.pk, "phone_ct"))
    with pytest.raises(DecryptionIntegrityError):
        _reveal_phone(refreshed(ours))
    assert _actions(ours.tenant)[-1][0] == "privacy.integrity_failure"


def test_tampered_ciphertext_fails_and_is_audited() -> None:
    subject = DataSubjectFactory()
    blob = bytearray(read_column(DataSubject, subject.pk, "phone_ct"))
    blob[-1] ^= 0x01
    write_column(DataSubject, subject.pk, "phone_ct", bytes(blob))
    with pytest.raises(DecryptionIntegrityError, match="authentication tag mismatch"):
        _reveal_phone(refreshed(subject))
    assert _actions(subject.tenant)[-1] == (
        "privacy.integrity_failure",
        {"error": "DecryptionIntegrityError", "layer": "field"},
    )


def test_truncated_ciphertext_fails_with_the_specific_error() -> None:
    subject = DataSubjectFactory()
    write_column(DataSubject, subject.pk, "phone_ct", b"\x01\x00")
    with pytest.raises(DecryptionIntegrityError, match="ciphertext too short"):
        _reveal_phone(refreshed(subject))


def test_wrong_tenant_key_fails_and_is_audited() -> None:
    ours, theirs = DataSubjectFactory(), DataSubjectFactory()
    with tenant_scope(ours.tenant):
        our_key = TenantKey.objects.get(purpose=KeyPurpose.DATA)
    with tenant_scope(theirs.tenant):
        their_key = TenantKey.objects.get(purpose=KeyPurpose.DATA)
    write_column(
        TenantKey, our_key.pk, "wrapped_key", read_column(TenantKey, their_key.pk, "wrapped_key")
    )
    with pytest.raises(DecryptionIntegrityError, match=r"\(tenant_key\)"):
        _reveal_phone(ours)
    assert _actions(ours.tenant)[-1] == (
        "privacy.integrity_failure",
        {"error": "DecryptionIntegrityError", "layer": "tenant_key"},
    )


def test_subject_key_of_another_subject_fails_and_is_audited() -> None:
    first = DataSubjectFactory()
    second = DataSubjectFactory(tenant=first.tenant)
    write_column(
        SubjectKey, second.pk, "wrapped_key", read_column(SubjectKey, first.pk, "wrapped_key")
    )
    with pytest.raises(DecryptionIntegrityError, match=r"\(subject_key\)"):
        _reveal_phone(second)
    assert _actions(second.tenant)[-1][1]["layer"] == "subject_key"


def test_ciphertext_sealed_for_one_row_does_not_open_for_another() -> None:
    cipher = SubjectCipher(1, uuid.uuid4(), bytes(32))
    blob = cipher.seal("orders_order", "address", "row-1", "上海市")
    with pytest.raises(DecryptionIntegrityError):
        cipher.open("orders_order", "address", "row-2", blob)


def test_erased_subject_cannot_be_revealed_and_the_attempt_is_audited() -> None:
    subject = DataSubjectFactory()
    destroy_subject_key(subject.tenant, subject.pk)
    with pytest.raises(SubjectErasedError):
        _reveal_phone(subject)
    assert _actions(subject.tenant)[-1] == (
        "privacy.reveal_failed",
        {"error": "SubjectErasedError"},
    )


def test_each_field_has_its_own_nonce() -> None:
    subject = DataSubjectFactory(name="同名", note="同名")
    name, note = (read_column(DataSubject, subject.pk, c) for c in ("name_ct", "note_ct"))
    assert name[5:17] != note[5:17]


def test_ciphertext_carries_format_and_key_version() -> None:
    subject = DataSubjectFactory()
    assert read_column(DataSubject, subject.pk, "phone_ct")[:5] == b"\x01\x00\x00\x00\x01"
