"""Customers in the vault: input checks, storing a customer, intake's match by phone, and
the audited phone search.

Personal data is in clear only inside these functions' frames. The phone search runs in
its own durable transaction, like ``reveal`` (privacy/reveal.py): its event, denied or
not, is committed whatever the caller does next.
"""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, router, transaction
from django.utils.translation import gettext as _

from audits.services import Event, record_event
from privacy.blind_index import phone_index
from privacy.errors import DecryptionIntegrityError, RevealDenied
from privacy.keys import (
    NewSubjectKey,
    SubjectCipher,
    create_subject_key,
    subject_cipher,
    subject_ciphers,
    tenant_index_key,
    write_subject_key,
)
from privacy.masking import mask_address, mask_name, mask_phone
from privacy.models import DataSubject, TenantKey
from privacy.phone import normalise_phone
from privacy.registry import SealedModel, sealed_models
from privacy.reveal import (
    actor_refusal,
    check_purpose,
    gate_details,
    may_use,
    own_transaction,
    refusal_details,
)
from tenants.actors import Actor
from tenants.bulk import fetch_rows, select_statement
from tenants.models import Tenant
from tenants.scoping import tenant_scope

LIMITS = {"name": 100, "address": 300, "note": 500}


def clean_text(field: str, value: Any, *, required: bool) -> str:
    """Validate one free-text personal field; errors name the field."""
    if not isinstance(value, str):
        raise ValidationError({field: _("Must be text.")})
    text = unicodedata.normalize("NFC", value).strip()
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
        raise ValidationError({field: _("Must not contain control characters.")})
    if required and not text:
        raise ValidationError({field: _("This field is required.")})
    if len(text) > LIMITS[field]:
        raise ValidationError(
            {field: _("At most %(limit)d characters.") % {"limit": LIMITS[field]}}
        )
    return text


def clean_contact(*, name: Any, phone: Any, address: Any, note: Any = "") -> dict[str, str]:
    errors: dict[str, Any] = {}
    values: dict[str, str] = {}
    for field, value, required in (
        ("name", name, True),
        ("address", address, True),
        ("note", note, False),
    ):
        try:
            values[field] = clean_text(field, value, required=required)
        except ValidationError as error:
            errors.update(error.message_dict)
    try:
        if not isinstance(phone, str):
            raise ValidationError(_("Must be text."))
        values["phone"] = normalise_phone(phone)
    except ValidationError as error:
        errors["phone"] = error.messages
    if errors:
        raise ValidationError(errors)
    return values


def create_subject(
    *, tenant: Tenant, name: str, phone: str, address: str, note: str = "", actor: Actor
) -> DataSubject:
    """Store a new customer: key first (key store), then the sealed row (main database)."""
    values = clean_contact(name=name, phone=phone, address=address, note=note)
    return _create_subject(tenant, values, actor)


def _create_subject(tenant: Tenant, values: dict[str, str], actor: Actor) -> DataSubject:
    return _create_subject_with_cipher(tenant, values, actor)[0]


# The audit event of intake's customer: created (with the fields sealed) or matched.
_CONTACT_EVENT: dict[bool, dict[str, Any]] = {
    True: {"action": "privacy.subject_created", "fields": DataSubject.ENCRYPTED_FIELDS},
    False: {"action": "privacy.subject_matched"},
}


def contact_event(subject: DataSubject, *, created: bool) -> Event:
    """The event recording that intake created ``subject`` or matched it by phone."""
    return Event(target=subject, **_CONTACT_EVENT[created])


def new_subject(tenant: Tenant, values: dict[str, str]) -> tuple[DataSubject, SubjectCipher]:
    """A new customer from cleaned ``values``: its key, written to the key store now, and
    its sealed row, not saved (a caller that inserts it in a statement of its own records
    ``contact_event`` with it)."""
    subject_id = uuid.uuid4()
    return _sealed_subject(tenant, values, subject_id, create_subject_key(tenant, subject_id))


def new_intake_subject(
    tenant: Tenant, values: dict[str, str]
) -> tuple[DataSubject, SubjectCipher, NewSubjectKey]:
    """``new_subject`` for intake's one statement: the key's retirement check is left to
    that statement (``retired_key_sql``, read after the key was committed); when it says
    retired, the caller calls ``key.rewrap()``. One round trip fewer per new customer."""
    subject_id = uuid.uuid4()
    key = write_subject_key(tenant, subject_id)
    subject, cipher = _sealed_subject(tenant, values, subject_id, key.cipher)
    return subject, cipher, key


def retired_key_sql(tenant: Tenant, key: NewSubjectKey) -> tuple[str, list[Any]]:
    """An expression for a caller's statement: whether the tenant key ``key`` was wrapped
    under has been marked retired (a rotation started after it was read)."""
    table = TenantKey._meta.db_table
    return (
        f'EXISTS (SELECT 1 FROM "{table}" WHERE "tenant_id" = %s AND "id" = %s '  # noqa: S608
        'AND "retired_at" IS NOT NULL)',
        [tenant.pk, key.tenant_key_id],
    )


def _sealed_subject(
    tenant: Tenant, values: dict[str, str], subject_id: uuid.UUID, cipher: SubjectCipher
) -> tuple[DataSubject, SubjectCipher]:
    table = DataSubject._meta.db_table
    subject = DataSubject(
        id=subject_id,
        tenant=tenant,
        phone_bidx=phone_index(tenant_index_key(tenant), values["phone"]),
        name_masked=mask_name(values["name"]),
        phone_masked=mask_phone(values["phone"]),
        address_masked=mask_address(values["address"]),
        **{
            f"{field}_ct": cipher.seal(table, field, subject_id, values[field])
            for field in DataSubject.ENCRYPTED_FIELDS
        },
    )
    return subject, cipher


def _create_subject_with_cipher(
    tenant: Tenant, values: dict[str, str], actor: Actor
) -> tuple[DataSubject, SubjectCipher]:
    subject, cipher = new_subject(tenant, values)
    with tenant_scope(tenant), transaction.atomic():
        subject.save(force_insert=True)
        record_event(tenant=tenant, actor=actor, target=subject, **_CONTACT_EVENT[True])
    return subject, cipher


def _subjects_with_phone(
    tenant: Tenant, normalised: str
) -> tuple[int, list[tuple[DataSubject, SubjectCipher]]]:
    """(candidate count, exact matches with their opened keys) of the blind index; false
    positives discarded. Nothing is locked: intake locks the customer it uses in its
    write (``live_subject_sql``)."""
    table = DataSubject._meta.db_table
    with tenant_scope(tenant):
        found = fetch_rows(
            DataSubject,
            ("id", "phone_ct"),
            phone_bidx=phone_index(tenant_index_key(tenant), normalised),
            erased_at=None,
        )
    # The candidates' keys in one read (the index is truncated: a bucket holds about one
    # customer per 16 384 of the tenant's); a key missing was erased since the query.
    ciphers = subject_ciphers(tenant, [pk for pk, _blob in found]) if found else {}
    alias = router.db_for_read(DataSubject)
    matches = []
    for pk, blob in found:
        cipher = ciphers.get(pk)
        if cipher and cipher.open(table, "phone", pk, blob) == normalised:
            # An instance with only these fields loaded (the rest load on access, as
            # with only()); from_db takes the values in the model's field order.
            loaded = {"id": pk, "tenant_id": tenant.pk, "phone_ct": blob}
            names = [f.attname for f in DataSubject._meta.concrete_fields if f.attname in loaded]
            matches.append((DataSubject.from_db(alias, names, [loaded[n] for n in names]), cipher))
    return len(found), matches


@dataclass(frozen=True)
class ContactSubject:
    subject: DataSubject
    created: bool
    # The subject's opened key, for sealing the intake's own fields (no second unwrap).
    cipher: SubjectCipher


def subject_for_contact(
    *, tenant: Tenant, name: str, phone: str, address: str, note: str = "", actor: Actor
) -> ContactSubject:
    """The tenant's customer with this phone, or a new one.

    Intake uses this: a returning customer keeps one subject (one key, one erasure). The
    match is made inside the vault and recorded; nothing is revealed to the caller.
    """
    values = clean_contact(name=name, phone=phone, address=address, note=note)
    found = match_contact(tenant, values["phone"])
    if found:
        subject, cipher = found
        record_event(tenant=tenant, actor=actor, target=subject, **_CONTACT_EVENT[False])
        return ContactSubject(subject, False, cipher)
    subject, cipher = _create_subject_with_cipher(tenant, values, actor)
    return ContactSubject(subject, True, cipher)


def match_contact(tenant: Tenant, phone: str) -> tuple[DataSubject, SubjectCipher] | None:
    """The tenant's live customer with this normalised phone and its opened key, or None;
    nothing locked. The caller locks the customer in the statement that uses it
    (``live_subject_sql``) and starts over when it is gone by then (erased meanwhile:
    an erasure locks the customer before it destroys the key)."""
    _count, matches = _subjects_with_phone(tenant, phone)
    return matches[0] if matches else None


def live_subject_sql(
    tenant: Tenant, subject: DataSubject, where: tuple[str, list[Any]]
) -> tuple[str, list[Any]]:
    """SELECT the id of ``subject`` if it is still live and ``where`` holds, for a caller's
    statement (intake's write). The row stays locked FOR KEY SHARE until that transaction
    ends: an erasure that locked the customer first makes the statement wait and then
    find nothing (erased: the caller starts over with a new customer); one that comes
    after waits, and the retention sweep passes over the customer, whose new order is
    still open. So no order is ever sealed under a key a concurrent sweep is destroying."""
    with tenant_scope(tenant):
        return select_statement(
            DataSubject, ("id",), key_share=True, where=where, id=subject.id, erased_at=None
        )


def find_subjects_by_phone(
    *, tenant: Tenant, phone: str, actor: Actor, purpose: str
) -> list[DataSubject]:
    """Customers of ``tenant`` with exactly this phone, via the blind index.

    Runs in its own durable transaction, like ``reveal``: call it outside any transaction
    (RuntimeError otherwise, before anything is decrypted); its ``privacy.search`` event
    (or the refusal or integrity failure) is committed before it returns or raises."""
    check_purpose(purpose)
    normalised = normalise_phone(phone)
    failure: Exception | None = None
    found: list[DataSubject] = []
    with own_transaction("find_subjects_by_phone"):
        # The rules, then the actor's suspensions and training (training.gates): a phone
        # search says whose a phone is, so it is refused like a reveal, with the reason.
        gate = None
        if not may_use(actor, ["phone"], purpose):
            failure = RevealDenied(_("You may not search customers by phone for this purpose."))
        else:
            failure, gate = actor_refusal(actor)
        if failure is not None:
            record_event(
                tenant=tenant,
                actor=actor,
                action="privacy.search_denied",
                object_type="privacy.datasubject",
                fields=["phone"],
                purpose=purpose,
                details=refusal_details(failure, gate),
            )
        else:
            found, failure = _search(tenant, actor, normalised, purpose, gate_details(gate))
    # Raised once the event is committed: the refusal or failure stays on record.
    if failure is not None:
        raise failure
    return found


def _search(
    tenant: Tenant, actor: Actor, normalised: str, purpose: str, extra: dict[str, Any]
) -> tuple[list[DataSubject], Exception | None]:
    try:
        candidates, matches = _subjects_with_phone(tenant, normalised)
    except DecryptionIntegrityError as error:
        record_event(
            tenant=tenant,
            actor=actor,
            action="privacy.integrity_failure",
            object_type="privacy.datasubject",
            fields=["phone"],
            purpose=purpose,
            details={"error": type(error).__name__, "layer": error.layer},
        )
        return [], error
    with tenant_scope(tenant):
        record_event(
            tenant=tenant,
            actor=actor,
            action="privacy.search",
            object_type="privacy.datasubject",
            fields=["phone"],
            purpose=purpose,
            details={
                "candidates": candidates,
                "matches": [str(s.id) for s, _key in matches],
                **extra,  # the training gate's warnings under the grace period
            },
        )
        # The match loaded only what it compared; callers get whole rows, in one query.
        return list(DataSubject.objects.filter(pk__in=[s.pk for s, _key in matches])), None


# --- A corrected phone moves a record to that phone's customer ----------------------------

# What a record needs to make its own customer: intake's contact fields.
_CONTACT_FIELDS = frozenset({"name", "phone", "address"})


def follows_phone(spec: SealedModel) -> bool:
    """Whether a corrected phone moves a record of ``spec`` to the customer with that phone:
    a record that names its customer itself (an order) and holds intake's contact fields."""
    return spec.subject_lookup == "subject_id" and set(spec.fields) >= _CONTACT_FIELDS


def _dependants(model: type[models.Model]) -> list[tuple[SealedModel, str]]:
    """The sealed models whose rows take their customer from a ``model`` row (an order's
    assignments, handover codes, anomalies), with the foreign key to it."""
    out = []
    for spec in sealed_models():
        name, _sep, rest = spec.subject_lookup.partition("__")
        if rest != "subject_id":
            continue
        field = spec.model._meta.get_field(name)
        if field.related_model is model:
            out.append((spec, name))
    return out


def _subject_for_phone(
    tenant: Tenant, actor: Actor, clear: dict[str, str]
) -> tuple[DataSubject, SubjectCipher]:
    """The tenant's live customer with ``clear["phone"]``, locked, or a new one made from
    ``clear`` like intake makes one (its key in the key store first); recorded as intake
    records it (``privacy.subject_matched`` / ``privacy.subject_created``)."""
    found = match_contact(tenant, clear["phone"])
    with tenant_scope(tenant):
        if found is not None:
            subject, cipher = found
            live = (
                DataSubject.objects.select_for_update()
                .filter(pk=subject.pk, erased_at=None)
                .first()
            )
            if live is not None:
                record_event(tenant=tenant, actor=actor, target=live, **_CONTACT_EVENT[False])
                return live, cipher
        values = {"name": clear["name"], "phone": clear["phone"], "address": clear["address"]}
        subject, cipher = new_subject(tenant, {**values, "note": ""})
        subject.save(force_insert=True)
        record_event(tenant=tenant, actor=actor, target=subject, **_CONTACT_EVENT[True])
    return subject, cipher


def move_to_phone_subject(
    *,
    tenant: Tenant,
    actor: Actor,
    record: models.Model,
    spec: SealedModel,
    values: dict[str, str],
) -> tuple[SubjectCipher, Any] | None:
    """Correcting the phone of ``record`` (``follows_phone``): re-link it to the tenant's
    customer with the new phone — found by the blind index, or created like intake creates
    one — so that the phone search, an access or an erasure request by the new phone find
    it, and the old phone's no longer do. Every sealed field of ``record`` (the corrected
    ``values``, the others opened here) is sealed again under that customer's key and its
    subject set (the caller saves it with "subject"); so are the rows that take their
    customer from it. The clear text never leaves this frame. In the caller's transaction,
    with ``record`` locked; the old and the new customer are locked here. Returns the new
    customer's cipher and the old subject's id, or None when the phone already belongs to
    the record's customer (nothing moved)."""
    old_id = spec.subject_id(record)
    with tenant_scope(tenant):
        DataSubject.objects.select_for_update().filter(pk=old_id).first()
    old = subject_cipher(tenant, old_id)
    table = type(record)._meta.db_table
    clear = {
        f: values[f]
        if f in values
        else old.open(table, f, record.pk, getattr(record, spec.column(f)))
        for f in spec.fields
    }
    subject, cipher = _subject_for_phone(tenant, actor, clear)
    if subject.pk == old_id:
        return None
    for field in spec.fields:
        setattr(record, spec.column(field), cipher.seal(table, field, record.pk, clear[field]))
    record.subject_id = subject.pk  # type: ignore[attr-defined]
    with tenant_scope(tenant):
        for dependant, key in _dependants(type(record)):
            dependant_table = dependant.model._meta.db_table
            rows = dependant.model._default_manager.select_for_update().filter(**{key: record.pk})
            for row in rows:
                changed = []
                for field in dependant.fields:
                    column = dependant.column(field)
                    blob = getattr(row, column)
                    if not blob:  # not set, or cleared
                        continue
                    text = old.open(dependant_table, field, row.pk, blob)
                    setattr(row, column, cipher.seal(dependant_table, field, row.pk, text))
                    changed.append(column)
                if changed:
                    row.save(update_fields=changed)
    return cipher, old_id
