"""Order intake: the cleaning of an order's items, its code and delivery PIN, and
``create_order``, which writes the customer (matched by phone or new), the notice record, the
sealed order, its first status and the audit events together: in one statement on
PostgreSQL (``_intake_in_one_statement``), row by row in a transaction elsewhere
(``_intake_row_by_row``). The only module outside privacy/ that may import
``privacy.intake_sql`` (pyproject.toml's import-linter contract)."""

from __future__ import annotations

import enum
import json
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connections, router, transaction
from django.utils.translation import gettext as _

from audits.services import (
    Event,
    batched_events,
    chain_head_exists_sql,
    chained_append_sql,
    ensure_chain_head,
    record_event,
)
from core.errors import Conflict
from core.hashing import keyed_hash, keyed_hash_matches
from orders.models import CODE_CONSTRAINT, Order, OrderTransition, Status
from orders.permissions import Action, may
from privacy.api import (
    DataSubject,
    NoticeChannel,
    NoticeRecord,
    clean_contact,
    clean_text,
    district_of,
    mask_address,
    mask_name,
    mask_phone,
    notice_record,
    notice_version,
)
from privacy.intake_sql import (
    NewSubjectKey,
    SubjectCipher,
    contact_event,
    live_subject_sql,
    match_contact,
    new_intake_subject,
    retired_key_sql,
    subject_for_contact,
)
from tenants.actors import Actor, actor_label
from tenants.bulk import hot_cursor, insert_rows, insert_statement
from tenants.models import Tenant
from tenants.scoping import tenant_scope

MAX_ITEMS = 50
MAX_QUANTITY = 99
ITEM_NAME_LIMIT = 100
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # no 0/O, 1/I/L, U
PIN_PURPOSE = "delivery-pin"


def clean_items(items: Any) -> list[dict[str, Any]]:
    """``[{"name": str, "quantity": int}, ...]``; errors name the item and the field."""
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        raise ValidationError({"items": _("Give a list of items.")})
    if not items:
        raise ValidationError({"items": _("Give at least one item.")})
    if len(items) > MAX_ITEMS:
        raise ValidationError({"items": _("At most %(n)d items.") % {"n": MAX_ITEMS}})
    cleaned, errors = [], {}
    for position, item in enumerate(items):
        if not isinstance(item, Mapping):
            errors[f"items[{position}]"] = [_("Each item has a name and a quantity.")]
            continue
        name = item.get("name")
        quantity = item.get("quantity")
        if not isinstance(name, str) or not name.strip() or "\x00" in name:
            errors[f"items[{position}].name"] = [_("Give the item's name.")]
        elif len(name.strip()) > ITEM_NAME_LIMIT:
            errors[f"items[{position}].name"] = [
                _("At most %(limit)d characters.") % {"limit": ITEM_NAME_LIMIT}
            ]
        if (
            isinstance(quantity, bool)
            or not isinstance(quantity, int)
            or not 1 <= quantity <= MAX_QUANTITY
        ):
            errors[f"items[{position}].quantity"] = [
                _("A whole number from 1 to %(max)d.") % {"max": MAX_QUANTITY}
            ]
        if not errors and isinstance(name, str):
            cleaned.append({"name": name.strip(), "quantity": quantity})
    if errors:
        raise ValidationError(errors)
    return cleaned


# Order codes drawn before intake gives up (a taken code is redrawn).
CODE_ATTEMPTS = 5


# Bytes below this limit (a multiple of the alphabet's size) map evenly onto the alphabet.
_CODE_BYTE_LIMIT = 256 - 256 % len(CODE_ALPHABET)


def _new_code() -> str:
    """Ten characters drawn uniformly from CODE_ALPHABET, from one read of the system's
    random source (``secrets.choice`` reads it once per character): bytes at or above
    ``_CODE_BYTE_LIMIT`` are dropped, so every character is equally likely."""
    chars: list[str] = []
    while len(chars) < 10:
        chars += [
            CODE_ALPHABET[byte % len(CODE_ALPHABET)]
            for byte in secrets.token_bytes(16)
            if byte < _CODE_BYTE_LIMIT
        ]
    raw = "".join(chars[:10])
    return f"{raw[:5]}-{raw[5:]}"


def new_pin() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def _pin_hash(order: Order, pin: str) -> str:
    return keyed_hash(PIN_PURPOSE, order.tenant_id, order.pk, pin)


def pin_matches(order: Order, pin: str) -> bool:
    """Whether ``pin`` (six digits) is the order's delivery PIN: its keyed hash compared in
    constant time (the delivery check, ``orders.lifecycle.do_check_delivery_pin``)."""
    return bool(re.fullmatch(r"\d{6}", pin)) and keyed_hash_matches(
        order.pin_hash, PIN_PURPOSE, order.tenant_id, order.pk, pin
    )


@dataclass(frozen=True)
class NewOrder:
    order: Order
    pin: str  # shown once, to be passed to the customer; only its keyed hash is stored
    items: list[dict[str, Any]]


@dataclass
class _Intake:
    """An intake's unsaved rows: the notice record, the order sealed under the customer's
    key, its first status change, and its PIN in clear (for the response only)."""

    notice: NoticeRecord
    order: Order
    first: OrderTransition
    pin: str

    @classmethod
    def build(
        cls,
        *,
        tenant: Tenant,
        actor: Actor,
        shown: Any,
        subject: DataSubject,
        cipher: SubjectCipher,
        contact: dict[str, str],
        items: list[dict[str, Any]],
        note: str,
        channel: str,
    ) -> _Intake:
        notice = notice_record(
            tenant=tenant, version=shown, subject=subject, channel=channel, actor=actor
        )
        pin = new_pin()
        order = Order(tenant=tenant, subject=subject, notice_record=notice)
        table = Order._meta.db_table
        values = {
            "name": contact["name"],
            "phone": contact["phone"],
            "address": contact["address"],
            "note": note,
            "items": json.dumps(items, ensure_ascii=False),
        }
        for field, value in values.items():
            setattr(order, f"{field}_ct", cipher.seal(table, field, order.pk, value))
        order.recipient_masked = mask_name(contact["name"])
        order.phone_masked = mask_phone(contact["phone"])
        order.address_masked = mask_address(contact["address"])
        order.district = district_of(contact["address"])
        order.item_count = sum(item["quantity"] for item in items)
        order.pin_hash = _pin_hash(order, pin)
        order.code = _new_code()
        first = OrderTransition(
            tenant=tenant,
            order=order,
            from_status="",
            to_status=Status.RECEIVED,
            actor=actor_label(actor),
        )
        return cls(notice, order, first, pin)

    def created_event(self, channel: str) -> Event:
        order = self.order
        return Event(
            action="order.created",
            target=order,
            details={
                "code": order.code,
                "items": order.item_count,
                "channel": channel,
                "notice_version": self.notice.notice.version,
                "subject": str(order.subject_id),
            },
        )


class _Outcome(enum.Enum):
    WRITTEN = "written"
    CODE_TAKEN = "code taken"
    CUSTOMER_GONE = "customer gone"  # erased between the match and the write
    NO_CHAIN_HEAD = "no chain head"
    KEY_RETIRED = "key retired"  # a new customer's key, wrapped under a version retired since


def _write_in_one_statement(
    tenant: Tenant, actor: Actor, intake: _Intake, events: list[Event], *, key: NewSubjectKey | None
) -> _Outcome:
    """PostgreSQL: the whole intake in one statement, so one implicit transaction (or part
    of the caller's): the customer (inserted if new — ``key`` is then its key, just
    committed to the key store; else locked FOR KEY SHARE, and only if still live), the
    notice record, the order, its first status change and the audit events, chained by the
    database (``audits.services.chained_append_sql``). Every write depends on the customer
    row, so when the customer is gone nothing is written; nor when a new customer's key was
    wrapped under a tenant key version a rotation has retired since (the check
    ``privacy.keys.create_subject_key`` makes after its write, made here at no round trip).
    A taken order code fails the statement (unique constraint): nothing is written
    either; inside a caller's transaction a savepoint keeps that failure to itself."""
    order, subject = intake.order, intake.order.subject
    connection = connections[router.db_for_write(Order)]
    head = chain_head_exists_sql(tenant)
    retired: tuple[str, list[Any]] = ("false", [])
    if key is not None:
        retired = retired_key_sql(tenant, key)
        live = (f"{head[0]} AND NOT {retired[0]}", [*head[1], *retired[1]])
        subject_sql, subject_params = insert_statement(DataSubject, [subject], where=live)
    else:
        subject_sql, subject_params = live_subject_sql(tenant, subject, head)
    notice_sql, notice_params = insert_statement(
        NoticeRecord, [intake.notice], source="subject", raw={"subject": "subject.id"}
    )
    order_sql, order_params = insert_statement(
        Order,
        [order],
        source="notice, subject",
        raw={"notice_record": "notice.id", "subject": "subject.id"},
    )
    first_sql, first_params = insert_statement(
        OrderTransition, [intake.first], source="placed", raw={"order": "placed.id"}
    )
    chain = chained_append_sql(tenant, actor, events, when="placed")
    # Statements built from the models' metadata; every value is a parameter.
    statement = (
        f"WITH subject AS ({subject_sql}), notice AS ({notice_sql}), "  # noqa: S608
        f"placed AS ({order_sql}), first AS ({first_sql}){chain.ctes} "
        f"SELECT (SELECT count(*) FROM placed), {head[0]}, (SELECT id FROM notice), "
        "(SELECT id FROM first), (SELECT json_agg(json_build_array("
        f"id, sequence, prev_hash, hash)) FROM {chain.appended}), {retired[0]}"
    )
    params = [
        *subject_params,
        *notice_params,
        *order_params,
        *first_params,
        *chain.params,
        *head[1],
        *retired[1],
    ]
    try:
        with (
            (
                transaction.atomic(using=connection.alias)
                if connection.in_atomic_block
                else nullcontext()
            ),
            hot_cursor(connection) as cursor,
        ):
            cursor.execute(statement, params)
            placed, has_head, notice_id, first_id, appended, key_retired = cursor.fetchone()
    except IntegrityError as error:
        if getattr(getattr(error.__cause__, "diag", None), "constraint_name", "") == (
            CODE_CONSTRAINT
        ):
            return _Outcome.CODE_TAKEN
        raise
    if not placed:
        if not has_head:
            return _Outcome.NO_CHAIN_HEAD
        return _Outcome.KEY_RETIRED if key_retired else _Outcome.CUSTOMER_GONE
    intake.notice.pk, order.notice_record_id, intake.first.pk = notice_id, notice_id, first_id
    for row in (subject, intake.notice, order, intake.first):
        row._state.adding, row._state.db = False, connection.alias
    chain.finish(appended)
    return _Outcome.WRITTEN


def _intake_in_one_statement(
    tenant: Tenant,
    actor: Actor,
    contact: dict[str, str],
    build: Callable[[DataSubject, SubjectCipher], _Intake],
    channel: str,
) -> _Intake:
    """Intake on PostgreSQL: the blind-index match and the key read, then one statement
    (``_write_in_one_statement``) for every write: 3 round trips for a returning
    customer, where a transaction around them would add its BEGIN and COMMIT; for a new
    one the match, the key's INSERT (committed alone) and the statement, which checks the
    key's version is not retired."""
    with tenant_scope(tenant):
        found = match_contact(tenant, contact["phone"])
    key: NewSubjectKey | None = None
    if found:
        subject, cipher = found
    else:
        subject, cipher, key = new_intake_subject(tenant, contact)
    # Beyond the code draws: a missing chain head, then an erased customer or a retired key.
    for _attempt in range(CODE_ATTEMPTS + 2):
        intake = build(subject, cipher)
        events = [contact_event(subject, created=key is not None), intake.created_event(channel)]
        with tenant_scope(tenant):
            outcome = _write_in_one_statement(tenant, actor, intake, events, key=key)
        if outcome is _Outcome.WRITTEN:
            return intake
        if outcome is _Outcome.NO_CHAIN_HEAD:
            ensure_chain_head(tenant)
        elif outcome is _Outcome.KEY_RETIRED and key is not None:
            key.rewrap()  # under the newest version; the statement checks that one next
        elif outcome is _Outcome.CUSTOMER_GONE:  # take the order for a new customer
            subject, cipher, key = new_intake_subject(tenant, contact)
        # CODE_TAKEN: build() draws another code.
    raise _no_free_code()


def _no_free_code() -> Conflict:
    return Conflict(_("Could not allocate an order code; try again."))


def _intake_row_by_row(
    tenant: Tenant,
    actor: Actor,
    contact: dict[str, str],
    build: Callable[[DataSubject, SubjectCipher], _Intake],
    channel: str,
) -> _Intake:
    """Intake elsewhere (SQLite): the same rows, one statement each, in a transaction."""
    with transaction.atomic(), tenant_scope(tenant), batched_events():
        match = subject_for_contact(tenant=tenant, actor=actor, **contact)
        intake = build(match.subject, match.cipher)
        insert_rows(NoticeRecord, [intake.notice])
        intake.order.notice_record_id = intake.notice.pk
        for _attempt in range(CODE_ATTEMPTS):
            if insert_rows(Order, [intake.order], skip_conflicts=True):
                break
            intake.order.code = _new_code()  # taken (ON CONFLICT DO NOTHING: no savepoint)
        else:
            raise _no_free_code()
        insert_rows(OrderTransition, [intake.first])
        event = intake.created_event(channel)
        record_event(
            tenant=tenant,
            actor=actor,
            target=event.target,
            action=event.action,
            details=event.details,
        )
    return intake


def create_order(
    *,
    tenant: Tenant,
    actor: Actor,
    customer: Mapping[str, Any],
    items: Any,
    note: Any = "",
    privacy_notice_version: Any,
    channel: str,
) -> NewOrder:
    """Take an order: the customer (matched by phone or new), the notice they were shown,
    the sealed order fields, a delivery PIN, the first status and the audit events, all
    committed together."""
    if not may(actor, Action.CREATE):
        raise PermissionDenied(_("You may not take orders."))
    errors: dict[str, Any] = {}
    contact: dict[str, str] = {}
    cleaned_items: list[dict[str, Any]] = []
    cleaned_note = ""
    try:
        contact = clean_contact(
            name=customer.get("name"), phone=customer.get("phone"), address=customer.get("address")
        )
    except ValidationError as error:
        errors.update({f"customer.{k}": v for k, v in error.message_dict.items()})
    try:
        cleaned_items = clean_items(items)
    except ValidationError as error:
        errors.update(error.message_dict)
    try:
        cleaned_note = clean_text("note", "" if note is None else note, required=False)
    except ValidationError as error:
        errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)

    if channel not in NoticeChannel.values:
        raise ValidationError({"channel": _("Unknown channel.")})
    # Before any write: an unknown notice version must not leave a customer key behind.
    shown = notice_version(tenant, privacy_notice_version)

    def build(subject: DataSubject, cipher: SubjectCipher) -> _Intake:
        return _Intake.build(
            tenant=tenant,
            actor=actor,
            shown=shown,
            subject=subject,
            cipher=cipher,
            contact=contact,
            items=cleaned_items,
            note=cleaned_note,
            channel=channel,
        )

    if connections[router.db_for_write(Order)].vendor == "postgresql":
        intake = _intake_in_one_statement(tenant, actor, contact, build, channel)
    else:
        intake = _intake_row_by_row(tenant, actor, contact, build, channel)
    # Imported here: orders.pins builds on this module (new_pin, the PIN's keyed hash).
    from orders.pins import send_pin_after_intake

    send_pin_after_intake(order=intake.order, pin=intake.pin, actor=actor)
    return NewOrder(order=intake.order, pin=intake.pin, items=cleaned_items)
