"""The vault's use cases: store a customer, find one by phone, reveal fields, notices.

Personal data is in clear only inside these functions' frames. Every reveal, search and
failure is written to the audit log with its purpose; denied and failed attempts too.
"""

from __future__ import annotations

import logging
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db import models, router, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.services import Event, record_event
from privacy.blind_index import phone_index
from privacy.errors import (
    DecryptionIntegrityError,
    KeyRetiredError,
    RevealDenied,
    SubjectErasedError,
)
from privacy.keys import (
    LRU,
    SubjectCipher,
    create_subject_key,
    subject_cipher,
    subject_ciphers,
    tenant_index_key,
)
from privacy.masking import mask_address, mask_name, mask_phone
from privacy.models import DataSubject, NoticeChannel, NoticeRecord, PrivacyNotice
from privacy.permissions import SYSTEM_RULE, Purpose, at_stage, rules_allowing
from privacy.phone import normalise_phone
from privacy.registry import SealedModel, sealed_model
from tenants.actors import Actor, SystemActor, actor_label
from tenants.bulk import fetch_rows, insert_rows, select_statement
from tenants.models import Role, Tenant, User
from tenants.roles import has_role, roles_of
from tenants.scoping import tenant_scope
from tenants.versioning import current_version, publish_next_version

logger = logging.getLogger(__name__)

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


def _table(model: type[models.Model]) -> str:
    return model._meta.db_table


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
    cipher = create_subject_key(tenant, subject_id)
    table = _table(DataSubject)
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
    table = _table(DataSubject)
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


def _may_use(actor: Actor, fields: Iterable[str], purpose: str) -> bool:
    """Role-level check (object permissions are checked by reveal)."""
    if isinstance(actor, SystemActor):
        return set(fields) <= SYSTEM_RULE.fields and purpose in SYSTEM_RULE.purposes
    roles = roles_of(actor)
    return all(rules_allowing(roles, field, purpose, staged=False) for field in fields)


def _check_purpose(purpose: str) -> None:
    if purpose not in Purpose.values:
        raise ValidationError({"purpose": _("Unknown purpose %(purpose)r.") % {"purpose": purpose}})


def find_subjects_by_phone(
    *, tenant: Tenant, phone: str, actor: Actor, purpose: str
) -> list[DataSubject]:
    """Customers of ``tenant`` with exactly this phone, via the blind index."""
    _check_purpose(purpose)
    normalised = normalise_phone(phone)
    if not _may_use(actor, ["phone"], purpose):
        record_event(
            tenant=tenant,
            actor=actor,
            action="privacy.search_denied",
            object_type="privacy.datasubject",
            fields=["phone"],
            purpose=purpose,
        )
        raise RevealDenied(_("You may not search customers by phone for this purpose."))
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
        raise
    with tenant_scope(tenant):
        record_event(
            tenant=tenant,
            actor=actor,
            action="privacy.search",
            object_type="privacy.datasubject",
            fields=["phone"],
            purpose=purpose,
            details={"candidates": candidates, "matches": [str(s.id) for s, _key in matches]},
        )
        # The match loaded only what it compared; callers get whole rows, in one query.
        return list(DataSubject.objects.filter(pk__in=[s.pk for s, _key in matches]))


def _record_failure(
    tenant: Tenant,
    actor: Actor,
    record: models.Model,
    fields: Iterable[str],
    purpose: str,
    error: Exception,
) -> None:
    details: dict[str, Any] = {"error": type(error).__name__}
    if isinstance(error, DecryptionIntegrityError):
        details["layer"] = error.layer
    action = (
        "privacy.integrity_failure"
        if isinstance(error, DecryptionIntegrityError)
        else "privacy.reveal_failed"
    )
    logger.error("%s on %s %s (tenant %s)", action, record._meta.label_lower, record.pk, tenant.pk)
    record_event(
        tenant=tenant,
        actor=actor,
        action=action,
        target=record,
        fields=fields,
        purpose=purpose,
        details=details,
    )


def _reveal_refusal(
    actor: Actor, record: models.Model, spec: SealedModel, fields: list[str], purpose: str
) -> RevealDenied | None:
    """Why ``actor`` may not reveal ``fields`` of ``record`` for ``purpose`` now, or None:
    the one decision behind every reveal (privacy.permissions' table)."""
    if isinstance(actor, SystemActor):
        if not _may_use(actor, fields, purpose):
            return RevealDenied(_("This system job may not reveal these fields for this purpose."))
        return None
    if not isinstance(actor, User) or not actor.is_active:
        return RevealDenied(_("Only an active user may reveal personal data."))
    roles = roles_of(actor)
    stage = spec.stage(record) if spec.stage is not None else None
    rules = {f: rules_allowing(roles, f, purpose, staged=stage is not None) for f in fields}
    denied = [f for f in fields if not rules[f]]
    if denied:
        return RevealDenied(
            _("Your roles may not reveal %(fields)s for this purpose.")
            % {"fields": ", ".join(denied)}
        )
    if any(all(r.object_permission for r in rules[f]) for f in fields):
        assigned = spec.object_permission is not None and actor.has_perm(
            spec.object_permission, record
        )
        if not assigned:
            rules = {f: [r for r in rules[f] if not r.object_permission] for f in fields}
            if not all(rules.values()):
                return RevealDenied(_("You are not assigned to this record."))
    early = [f for f in fields if not any(at_stage(r, stage) for r in rules[f])]
    if early:
        allowed = {s for f in early for r in rules[f] for s in r.stages or ()}
        labels = spec.stage_labels
        return RevealDenied(
            _(
                "Not at this stage: the %(record)s is “%(stage)s”; %(fields)s may be "
                "revealed for this purpose only at: %(stages)s."
            )
            % {
                "record": record._meta.verbose_name,
                "stage": labels.get(str(stage), stage),
                "fields": ", ".join(early),
                "stages": ", ".join(
                    str(labels.get(s, s)) for s in sorted(allowed, key=_stage_order(labels))
                ),
            }
        )
    return None


def _stage_order(labels: Mapping[str, Any]) -> Callable[[str], int]:
    order = {s: i for i, s in enumerate(labels)}
    return lambda s: order.get(s, len(order))


def may_reveal(record: models.Model, *, fields: Iterable[str], actor: Actor, purpose: str) -> bool:
    """Whether ``reveal`` would let ``actor`` see ``fields`` of ``record`` now, without
    revealing or recording anything: for pages that show a value only when it may be shown
    (the rider's address from the pickup on). The same decision as ``reveal``."""
    spec = sealed_model(type(record))
    return _reveal_refusal(actor, record, spec, sorted(set(fields)), purpose) is None


def reveal(
    record: models.Model, *, fields: Iterable[str], actor: Actor, purpose: str
) -> dict[str, str]:
    """Decrypt the named fields of ``record`` for ``actor``, for ``purpose``, and record it.

    Raises ``RevealDenied`` (recorded), ``DecryptionIntegrityError`` (recorded; never returns
    garbage), ``SubjectErasedError``/``KeyRetiredError`` (recorded), or the record's
    ``DoesNotExist`` when the actor belongs to another tenant.
    """
    spec = sealed_model(type(record))
    wanted = sorted(set(fields))
    unknown = [f for f in wanted if f not in spec.fields]
    if not wanted or unknown:
        raise ValidationError(
            {"fields": _("Choose among: %(allowed)s.") % {"allowed": ", ".join(spec.fields)}}
        )
    _check_purpose(purpose)
    tenant_id = record.tenant_id  # type: ignore[attr-defined]
    if isinstance(actor, User) and actor.tenant_id != tenant_id:
        # Another tenant's record looks like no record at all.
        raise type(record).DoesNotExist()  # type: ignore[attr-defined]
    tenant = Tenant.objects.get(pk=tenant_id)
    refusal = _reveal_refusal(actor, record, spec, wanted, purpose)
    if refusal is not None:
        record_event(
            tenant=tenant,
            actor=actor,
            action="privacy.reveal_denied",
            target=record,
            fields=wanted,
            purpose=purpose,
        )
        raise refusal
    subject_id = spec.subject_id(record)
    table = _table(type(record))
    try:
        cipher = subject_cipher(tenant, subject_id)
        values = {
            f: cipher.open(table, f, record.pk, getattr(record, spec.column(f))) for f in wanted
        }
    except (DecryptionIntegrityError, SubjectErasedError, KeyRetiredError) as error:
        _record_failure(tenant, actor, record, wanted, purpose, error)
        raise
    record_event(
        tenant=tenant,
        actor=actor,
        action="privacy.reveal",
        target=record,
        fields=wanted,
        purpose=purpose,
        details={"subject": str(subject_id)},
    )
    return values


def seal(record: models.Model, field: str, value: str) -> bytes:
    """The ciphertext of ``value`` for ``field`` of ``record`` (a registered sealed model
    whose primary key is set), under its subject's key: for a later layer that stores a
    sealed field itself (the rider's note on a held package). The clear text never leaves
    this frame; the caller saves the bytes in the field's column."""
    spec = sealed_model(type(record))
    if field not in spec.fields:
        raise ValueError(f"{type(record).__name__}.{field} is not a sealed field")
    cipher = subject_cipher(record.tenant, spec.subject_id(record))  # type: ignore[attr-defined]
    return cipher.seal(_table(type(record)), field, record.pk, value)


# --- privacy notices -----------------------------------------------------------------------

NOTICE_TEXT_FIELDS = ("purpose_zh", "purpose_en", "scope_zh", "scope_en", "use_zh", "use_en")


def publish_notice(
    *, tenant: Tenant, actor: Actor, retention_days: int, **texts: str
) -> PrivacyNotice:
    """Publish the next version of ``tenant``'s privacy notice (versions never change)."""
    if isinstance(actor, User) and (
        actor.tenant_id != tenant.pk or not has_role(actor, Role.TENANT_ADMIN, Role.PRIVACY_OFFICER)
    ):
        raise RevealDenied(_("Only a tenant administrator or privacy officer may publish notices."))
    missing = [f for f in NOTICE_TEXT_FIELDS if not str(texts.get(f, "")).strip()]
    unknown = set(texts) - set(NOTICE_TEXT_FIELDS)
    errors: dict[str, Any] = {f: _("This field is required.") for f in missing}
    errors.update({f: _("Unknown field.") for f in unknown})
    if not isinstance(retention_days, int) or not 0 <= retention_days <= 365:
        errors["retention_days"] = _("Between 0 and 365 days.")
    if errors:
        raise ValidationError(errors)
    values = {
        "retention_days": retention_days,
        **{f: texts[f].strip() for f in NOTICE_TEXT_FIELDS},
    }
    return publish_next_version(
        PrivacyNotice,
        tenant=tenant,
        actor=actor,
        values=values,
        record=lambda notice: record_event(
            tenant=tenant,
            actor=actor,
            action="privacy.notice_published",
            target=notice,
            details={"version": notice.version},
        ),
    )


def current_notice(tenant: Tenant) -> PrivacyNotice | None:
    return current_version(PrivacyNotice, tenant)


_notices = LRU(1024, ttl=300)


def notice_version(tenant: Tenant, version: Any) -> PrivacyNotice:
    """The tenant's notice ``version``; a ValidationError naming the field otherwise."""
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValidationError({"privacy_notice_version": _("Must be a whole number.")})
    notice = cast(PrivacyNotice | None, _notices.get((tenant.pk, version)))
    if notice is None:
        with tenant_scope(tenant):
            notice = PrivacyNotice.objects.filter(version=version).first()
        if notice is not None:  # published versions never change: keep it for a while
            _notices.put((tenant.pk, version), notice)
    if notice is None:
        raise ValidationError(
            {"privacy_notice_version": _("Unknown privacy notice version %(v)s.") % {"v": version}}
        )
    return notice


def record_notice_shown(
    *,
    tenant: Tenant,
    version: Any,
    subject: DataSubject | None,
    channel: str,
    actor: Actor,
    shown_at: Any = None,
) -> NoticeRecord:
    """Record that the customer was shown notice ``version`` (a number, or the notice
    ``notice_version`` returned); unknown versions are refused."""
    record = notice_record(
        tenant=tenant,
        version=version,
        subject=subject,
        channel=channel,
        actor=actor,
        shown_at=shown_at,
    )
    with tenant_scope(tenant):
        insert_rows(NoticeRecord, [record])
    return record


def notice_record(
    *,
    tenant: Tenant,
    version: Any,
    subject: DataSubject | None,
    channel: str,
    actor: Actor,
    shown_at: Any = None,
) -> NoticeRecord:
    """The checked, unsaved record of ``record_notice_shown``, for a caller that writes it
    within a statement of its own (intake)."""
    if channel not in NoticeChannel.values:
        raise ValidationError({"channel": _("Unknown channel.")})
    if isinstance(version, PrivacyNotice) and version.tenant_id == tenant.pk:
        notice = version
    else:
        notice = notice_version(tenant, version)
    return NoticeRecord(
        tenant=tenant,
        notice=notice,
        subject=subject,
        channel=channel,
        shown_at=shown_at or timezone.now(),
        recorded_by=actor_label(actor),
    )
