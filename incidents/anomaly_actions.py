"""What customer service does on an order anomaly's page (issue 18, point 4, §5.2).

- Wrong delivery information: call the customer back through the call relay (the number
  is bridged by the relay, never shown; riders registers the caller in its AppConfig,
  since incidents may not import riders), then correct the order's name, phone, address
  or note through the vault (``privacy.api.correct``: sealed again under the customer's
  key, audited with the field names only) and, usually, resolve the anomaly with the
  outcome "information corrected".
- Lost or damaged food: re-make it as a new order for the same customer, linked to the
  original (``orders.remake``), and resolve the anomaly with the outcome "re-made".

The corrected values pass from the form to the vault and nowhere else: not into the
anomaly's note, an audit event, a log line or a URL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.services import record_event
from core.errors import Conflict
from incidents.models import AnomalyKind, AnomalyOutcome, OrderAnomaly
from orders.intake import NewOrder
from orders.models import Order
from orders.remake import existing_remake, prepare_remake, remake_order
from privacy.api import (
    DataSubject,
    Purpose,
    RevealDenied,
    SubjectErasedError,
    clean_text,
    correct,
    district_of,
    mask_address,
    mask_name,
    mask_phone,
    normalise_phone,
)
from tenants.actors import Actor, actor_label
from tenants.models import Role, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope

CORRECTABLE = ("name", "phone", "address", "note")
CORRECTION_KINDS = frozenset({AnomalyKind.WRONG_ADDRESS})
CALL_KINDS = frozenset({AnomalyKind.WRONG_ADDRESS, AnomalyKind.CUSTOMER_UNREACHABLE})
REMAKE_KINDS = frozenset({AnomalyKind.LOST, AnomalyKind.DAMAGED})
PURPOSE = Purpose.CUSTOMER_SERVICE_CALL

# (order=..., actor=...) -> the relay's virtual number to dial. Registered by riders.
CustomerCaller = Callable[..., str]
_callers: list[CustomerCaller] = []


def register_customer_caller(caller: CustomerCaller) -> None:
    if caller not in _callers:
        _callers.append(caller)


def is_customer_service(actor: Actor) -> bool:
    return isinstance(actor, User) and actor.is_active and has_role(actor, Role.CUSTOMER_SERVICE)


def _require_customer_service(actor: Actor) -> None:
    if not is_customer_service(actor):
        raise PermissionDenied(_("Only customer service follows up this anomaly."))


def _check_live(order: Order, subject: DataSubject) -> None:
    """409 for an order whose customer was erased or that is finished."""
    if subject.erased_at is not None:
        raise Conflict(_("The customer's data was erased."), reason="erased")
    if order.is_finished:
        raise Conflict(
            _("The order is already “%(status)s”.") % {"status": order.get_status_display()},
            status=order.status,
        )


def _resolve(locked: OrderAnomaly, outcome: AnomalyOutcome, actor: Actor) -> None:
    locked.outcome, locked.note = outcome, ""
    locked.resolved_by, locked.resolved_at = actor_label(actor), timezone.now()
    locked.save(update_fields=["outcome", "note", "resolved_by", "resolved_at"])
    record_event(
        tenant=locked.tenant,
        actor=actor,
        action="incidents.anomaly_resolved",
        target=locked.order,
        details={"outcome": str(outcome), "anomaly": locked.pk},
    )


def _lock_open(anomaly: OrderAnomaly, kinds: frozenset[str]) -> OrderAnomaly:
    locked = OrderAnomaly.objects.select_for_update().select_related("order").get(pk=anomaly.pk)
    if locked.kind not in kinds:
        raise Conflict(_("This action does not apply to this kind of anomaly."))
    if not locked.is_open:
        raise Conflict(_("This anomaly is already resolved."))
    return locked


# --- Calling the customer back through the relay ---------------------------------------


def call_customer_about(*, anomaly: OrderAnomaly, actor: Actor) -> str:
    """The relay's virtual number customer service dials to re-verify the information with
    the customer (the real number stays with the relay). Checked in a short transaction,
    bridged outside any (the relay reveals the phone with its own audited purpose), then
    recorded (``incidents.anomaly_customer_called``: the anomaly's id)."""
    _require_customer_service(actor)
    with tenant_scope(anomaly.tenant):
        with transaction.atomic():
            locked = _lock_open(anomaly, CALL_KINDS)
            order = Order.objects.select_related("subject").get(pk=locked.order_id)
            _check_live(order, order.subject)
        if not _callers:
            raise Conflict(_("No call relay is set up."))
        virtual = _callers[0](order=order, actor=actor)
        with transaction.atomic():
            record_event(
                tenant=anomaly.tenant,
                actor=actor,
                action="incidents.anomaly_customer_called",
                target=order,
                details={"anomaly": anomaly.pk},
            )
    return virtual


# --- Correcting the order through the vault --------------------------------------------


def clean_correction(values: Mapping[str, Any]) -> dict[str, str]:
    """The fields given (an empty field stays as it is), cleaned like intake cleans them;
    at least one. Errors name the field, never repeat the value."""
    cleaned: dict[str, str] = {}
    errors: dict[str, Any] = {}
    for field in CORRECTABLE:
        value = values.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        try:
            if field == "phone":
                if not isinstance(value, str):
                    raise ValidationError(_("Must be text."))
                cleaned[field] = normalise_phone(value)
            else:
                cleaned[field] = clean_text(field, value, required=True)
        except ValidationError as error:
            errors[field] = (
                error.message_dict.get(field, error.messages)
                if hasattr(error, "error_dict")
                else error.messages
            )
    if errors:
        raise ValidationError(errors)
    if not cleaned:
        raise ValidationError({"__all__": [_("Give at least one corrected field.")]})
    return cleaned


def _masks(cleaned: Mapping[str, str]) -> dict[str, str]:
    masks = {}
    if "name" in cleaned:
        masks["recipient_masked"] = mask_name(cleaned["name"])
    if "phone" in cleaned:
        masks["phone_masked"] = mask_phone(cleaned["phone"])
    if "address" in cleaned:
        masks["address_masked"] = mask_address(cleaned["address"])
        masks["district"] = district_of(cleaned["address"])
    return masks


def correct_order_information(
    *, anomaly: OrderAnomaly, values: Mapping[str, Any], resolve: bool, actor: Actor
) -> list[str]:
    """Customer service corrects the order of a wrong-information anomaly with what the
    customer confirmed: the fields given are sealed again under the customer's key (the
    old ciphertext is replaced), the masks follow, and the anomaly is resolved with the
    outcome "information corrected" when ``resolve``. One transaction, with the anomaly,
    the order and the customer locked; audited with the field names only
    (``privacy.corrected``, ``incidents.anomaly_information_corrected``). Returns the
    corrected fields."""
    _require_customer_service(actor)
    cleaned = clean_correction(values)
    masks = _masks(cleaned)
    with transaction.atomic(), tenant_scope(anomaly.tenant):
        locked = _lock_open(anomaly, CORRECTION_KINDS)
        order = Order.objects.select_for_update().get(pk=locked.order_id)
        subject = DataSubject.objects.select_for_update().get(pk=order.subject_id)
        _check_live(order, subject)
        for column, mask in masks.items():
            setattr(order, column, mask)
        try:
            fields = correct(
                order, values=cleaned, actor=actor, purpose=PURPOSE, also_update=list(masks)
            )
        except RevealDenied as error:
            raise PermissionDenied(str(error)) from None
        except SubjectErasedError:
            raise Conflict(_("The customer's data was erased."), reason="erased") from None
        record_event(
            tenant=locked.tenant,
            actor=actor,
            action="incidents.anomaly_information_corrected",
            target=order,
            fields=fields,
            details={"anomaly": locked.pk},
        )
        if resolve:
            _resolve(locked, AnomalyOutcome.INFORMATION_CORRECTED, actor)
    return fields


# --- Re-making lost or damaged food ------------------------------------------------------


def remade_order(anomaly: OrderAnomaly) -> Order | None:
    """The order that re-made this anomaly's order, if any."""
    with tenant_scope(anomaly.tenant):
        return existing_remake(anomaly.order)


def remake_for_anomaly(*, anomaly: OrderAnomaly, actor: Actor) -> NewOrder:
    """Re-make the lost or damaged food as a new order for the same customer, linked to the
    original, and resolve the anomaly with the outcome "re-made"; once (a second time is a
    ``Conflict`` naming the new order). Not for an erased customer (``Conflict``).

    The order's sealed fields are copied first, outside any transaction (``prepare_remake``:
    the copy's audit event is durable, like a reveal's), after the same checks as below;
    then one transaction locks the anomaly and the order, checks again and saves."""
    _require_customer_service(actor)
    with tenant_scope(anomaly.tenant):
        current = OrderAnomaly.objects.get(pk=anomaly.pk)
        _check_remake(current)
        order = Order.objects.get(pk=current.order_id)
        prepared = prepare_remake(order=order, actor=actor)
    with transaction.atomic(), tenant_scope(anomaly.tenant):
        locked = OrderAnomaly.objects.select_for_update().get(pk=anomaly.pk)
        _check_remake(locked)
        new = remake_order(order=order, prepared=prepared, actor=actor)
        record_event(
            tenant=locked.tenant,
            actor=actor,
            action="incidents.anomaly_remade",
            target=locked.order,
            details={"anomaly": locked.pk, "order": str(new.order.pk)},
        )
        _resolve(locked, AnomalyOutcome.REMADE, actor)
    return new


def _check_remake(anomaly: OrderAnomaly) -> None:
    if anomaly.kind not in REMAKE_KINDS:
        raise Conflict(_("This action does not apply to this kind of anomaly."))
    made = existing_remake(anomaly.order)
    if made is not None:
        raise Conflict(
            _("This order was already re-made as order %(code)s.") % {"code": made.code},
            order=str(made.pk),
        )
    if not anomaly.is_open:
        raise Conflict(_("This anomaly is already resolved."))
