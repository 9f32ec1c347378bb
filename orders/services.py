"""Order use cases: intake, lifecycle, kitchen and packing steps, delivery PIN."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections, router, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.services import EventBatch, batched_events, head_lock_sql, record_event
from orders.models import PIN_MAX_ATTEMPTS, Order, OrderTransition, Status
from orders.permissions import (
    FLOW_TARGETS,
    NEXT_STATUSES,
    Action,
    may,
    may_transition_to,
)
from orders.signals import order_transitioned
from privacy.masking import district_of, mask_address, mask_name, mask_phone
from privacy.models import NoticeChannel, NoticeRecord
from privacy.services import (
    clean_contact,
    clean_text,
    notice_record,
    notice_version,
    subject_for_contact,
)
from tenants.actors import Actor, actor_label
from tenants.bulk import insert_rows, insert_statement
from tenants.errors import Conflict
from tenants.hashing import keyed_hash, keyed_hash_matches
from tenants.models import Tenant
from tenants.scoping import tenant_scope

MAX_ITEMS = 50
MAX_QUANTITY = 99
ITEM_NAME_LIMIT = 100
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # no 0/O, 1/I/L, U
SEAL_PATTERN = re.compile(r"^[A-Za-z0-9-]{4,32}$")
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


def _new_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def new_pin() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def _pin_hash(order: Order, pin: str) -> str:
    return keyed_hash(PIN_PURPOSE, order.tenant_id, order.pk, pin)


@dataclass(frozen=True)
class NewOrder:
    order: Order
    pin: str  # shown once, to be passed to the customer; only its keyed hash is stored
    items: list[dict[str, Any]]


def _write_intake(
    tenant: Tenant, notice: NoticeRecord, order: Order, first: OrderTransition, events: EventBatch
) -> bool:
    """Write the notice record, the order (unless its code is taken: False) and its first
    status change. On PostgreSQL this is one round trip that also locks the tenant's
    audit-chain head for the intake's events, appended right after (data-modifying WITH;
    foreign keys are checked at commit). Elsewhere, the same writes one by one."""
    connection = connections[router.db_for_write(Order)]
    if connection.vendor != "postgresql":
        insert_rows(NoticeRecord, [notice])
        order.notice_record_id = notice.pk
        return bool(
            insert_rows(
                Order,
                [order],
                skip_conflicts=True,
                along=insert_statement(OrderTransition, [first]),
            )
        )
    notice_sql, notice_params = insert_statement(NoticeRecord, [notice])
    first_sql, first_params = insert_statement(OrderTransition, [first])
    order_sql, order_params = insert_statement(
        Order, [order], skip_conflicts=True, raw={"notice_record": "(SELECT id FROM notice)"}
    )
    head_sql, head_params = head_lock_sql(tenant)
    # Statements built from the models' metadata; every value is a parameter.
    statement = (
        f"WITH notice AS ({notice_sql}), first AS ({first_sql}), placed AS ({order_sql}) "  # noqa: S608
        "SELECT (SELECT id FROM notice), (SELECT count(*) FROM placed), head.sequence, "
        f"head.hash FROM (SELECT 1) AS one LEFT JOIN ({head_sql}) AS head ON true"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [*notice_params, *first_params, *order_params, *head_params])
        notice_id, placed, sequence, head_hash = cursor.fetchone()
    notice.pk, order.notice_record_id = notice_id, notice_id
    notice._state.adding, notice._state.db = False, connection.alias
    if sequence is not None:  # a tenant's first event creates its head in record_events
        events.head_locked(tenant, sequence, head_hash)
    if placed:
        order._state.adding, order._state.db = False, connection.alias
    return bool(placed)


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
    the sealed order fields, a delivery PIN, the first status and the audit event."""
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
    # One transaction, and one append to the audit chain for all of the intake's events.
    with transaction.atomic(), tenant_scope(tenant), batched_events() as events:
        match = subject_for_contact(tenant=tenant, actor=actor, **contact)
        subject, cipher = match.subject, match.cipher
        notice = notice_record(
            tenant=tenant, version=shown, subject=subject, channel=channel, actor=actor
        )
        pin = new_pin()
        order = Order(tenant=tenant, subject=subject, notice_record=notice)
        first = OrderTransition(
            tenant=tenant,
            order=order,
            from_status="",
            to_status=Status.RECEIVED,
            actor=actor_label(actor),
        )
        table = Order._meta.db_table
        values = {
            "name": contact["name"],
            "phone": contact["phone"],
            "address": contact["address"],
            "note": cleaned_note,
            "items": json.dumps(cleaned_items, ensure_ascii=False),
        }
        for field, value in values.items():
            setattr(order, f"{field}_ct", cipher.seal(table, field, order.pk, value))
        order.recipient_masked = mask_name(contact["name"])
        order.phone_masked = mask_phone(contact["phone"])
        order.address_masked = mask_address(contact["address"])
        order.district = district_of(contact["address"])
        order.item_count = sum(item["quantity"] for item in cleaned_items)
        order.pin_hash = _pin_hash(order, pin)
        order.code = _new_code()
        if not _write_intake(tenant, notice, order, first, events):
            for _attempt in range(4):
                # The random code was taken (ON CONFLICT DO NOTHING: no savepoint): draw
                # another; the notice record and the status change are written already.
                order.code = _new_code()
                if insert_rows(Order, [order], skip_conflicts=True):
                    break
            else:
                raise Conflict(_("Could not allocate an order code; try again."))
        record_event(
            tenant=tenant,
            actor=actor,
            action="order.created",
            target=order,
            details={
                "code": order.code,
                "items": order.item_count,
                "channel": channel,
                "notice_version": notice.notice.version,
                "subject": str(subject.id),
            },
        )
    return NewOrder(order=order, pin=pin, items=cleaned_items)


def _check_lifecycle(order: Order, to: str, *, through_flow: bool = True) -> None:
    """409 for a transition the lifecycle forbids, naming the allowed next statuses (those of
    the generic transition only, when it is the one asked)."""
    if to not in NEXT_STATUSES.get(order.status, ()):
        allowed = [
            s for s in NEXT_STATUSES.get(order.status, ()) if through_flow or s not in FLOW_TARGETS
        ]
        raise Conflict(
            _("An order that is %(status)s cannot become %(to)s.")
            % {"status": order.status, "to": to},
            status=order.status,
            allowed=allowed,
        )


def apply_transition(order: Order, to: str, actor: Actor, **changes: Any) -> Order:
    """Move a locked order to ``to`` (lifecycle checked), recording who and when.

    For flows that check their own permissions under the order's row lock (the rider
    flow); everything else goes through ``transition_order``."""
    _check_lifecycle(order, to)
    previous = order.status
    order.status = to
    order.status_changed_at = timezone.now()
    for field, value in changes.items():
        setattr(order, field, value)
    order.save(update_fields=["status", "status_changed_at", *changes])
    OrderTransition(
        tenant=order.tenant,
        order=order,
        from_status=previous,
        to_status=to,
        actor=actor_label(actor),
    ).save()
    # Later layers react in this same transaction (riders: end the assignment, revoke access).
    order_transitioned.send(sender=Order, order=order, previous=previous, to=to, actor=actor)
    record_event(
        tenant=order.tenant,
        actor=actor,
        action="order.transition",
        target=order,
        details={
            "from": previous,
            "to": to,
            **({"seal": True} if "seal_number" in changes else {}),
        },
    )
    return order


def transition_order(*, order: Order, to: str, actor: Actor, seal_number: str = "") -> Order:
    """The generic transition (admin button, API): validated in one place under a row lock,
    so two concurrent transitions of one order cannot both succeed."""
    if to not in Status.values:
        raise ValidationError({"to": _("Unknown status %(to)r.") % {"to": to}})
    seal = (seal_number or "").strip()
    if to == Status.PACKED and not SEAL_PATTERN.match(seal):
        raise ValidationError(
            {"seal_number": _("Enter the seal's number: 4 to 32 letters, digits or hyphens.")}
        )
    with transaction.atomic(), tenant_scope(order.tenant):
        locked = Order.objects.select_for_update(of=("self",)).get(pk=order.pk)
        _check_lifecycle(locked, to, through_flow=False)
        if to in FLOW_TARGETS:
            raise Conflict(
                _("Moving an order to %(to)s goes through %(flow)s.")
                % {"to": to, "flow": FLOW_TARGETS[to]},
                status=locked.status,
                allowed=[s for s in NEXT_STATUSES[locked.status] if s not in FLOW_TARGETS],
            )
        if not may_transition_to(actor, to):
            raise PermissionDenied(_("Your roles may not move an order to %(to)s.") % {"to": to})
        return apply_transition(
            locked, to, actor, **({"seal_number": seal} if to == Status.PACKED else {})
        )


def mark_food_ready(*, order: Order, actor: Actor) -> Order:
    """The kitchen's "ready": the food of a preparing order is done and waits for packing."""
    if not may_transition_to(actor, Status.PREPARING):
        raise PermissionDenied(_("Only the kitchen marks food ready."))
    with transaction.atomic(), tenant_scope(order.tenant):
        locked = Order.objects.select_for_update(of=("self",)).get(pk=order.pk)
        if locked.status != Status.PREPARING:
            raise Conflict(_("Only an order being prepared can be ready."), status=locked.status)
        if locked.kitchen_ready_at is None:
            locked.kitchen_ready_at = timezone.now()
            locked.save(update_fields=["kitchen_ready_at"])
            record_event(
                tenant=locked.tenant, actor=actor, action="order.food_ready", target=locked
            )
        return locked


@dataclass(frozen=True)
class PinCheck:
    accepted: bool
    attempts_left: int


def check_delivery_pin(*, order: Order, pin: str, actor: Actor) -> PinCheck:
    """Compare ``pin`` with the order's keyed PIN hash in constant time. Wrong PINs count;
    the fifth locks the order's PIN for good (customer service then issues a handover code)."""
    with transaction.atomic(), tenant_scope(order.tenant):
        locked = Order.objects.select_for_update(of=("self",)).get(pk=order.pk)
        if locked.pin_locked_at is not None:
            raise Conflict(
                _("The PIN is locked after too many wrong attempts; call customer service.")
            )
        candidate = pin.strip() if isinstance(pin, str) else ""
        if re.fullmatch(r"\d{6}", candidate) and keyed_hash_matches(
            locked.pin_hash, PIN_PURPOSE, locked.tenant_id, locked.pk, candidate
        ):
            record_event(
                tenant=locked.tenant, actor=actor, action="order.pin_accepted", target=locked
            )
            return PinCheck(accepted=True, attempts_left=PIN_MAX_ATTEMPTS - locked.pin_attempts)
        locked.pin_attempts += 1
        fields = ["pin_attempts"]
        if locked.pin_attempts >= PIN_MAX_ATTEMPTS:
            locked.pin_locked_at = timezone.now()
            fields.append("pin_locked_at")
        locked.save(update_fields=fields)
        record_event(
            tenant=locked.tenant,
            actor=actor,
            action="order.pin_locked" if locked.pin_locked_at else "order.pin_rejected",
            target=locked,
            details={"attempts": locked.pin_attempts},
        )
        order.pin_attempts, order.pin_locked_at = locked.pin_attempts, locked.pin_locked_at
        return PinCheck(accepted=False, attempts_left=PIN_MAX_ATTEMPTS - locked.pin_attempts)


def items_of(revealed: Mapping[str, str]) -> list[dict[str, Any]]:
    """The item list from a reveal of ``items``."""
    return json.loads(revealed["items"]) if revealed.get("items") else []
