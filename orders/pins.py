"""The delivery PIN by text message: customer service's "send a new PIN", and the PIN sent
at intake when the tenant asks for it (``Tenant.send_pin_by_sms``).

The PIN exists in clear only in this process's memory, between its drawing and the SMS
backend's call: never in the database (its keyed hash only), a log, an audit event, a task
argument or a URL. Both paths send from the process that draws the PIN, outside any
transaction and row lock (docs/conventions.md §2):

- **Re-send** draws a new PIN, reveals the phone (system actor, purpose
  ``delivery_pin_sms``, audited by the vault), sends, and only then stores the new PIN's
  keyed hash, resets the wrong-attempt counter and lifts a lock, in one short transaction
  with the audit event. A failed SMS therefore leaves the order as it was (the old PIN
  still works); a new PIN stored without an SMS cannot happen. Two re-sends racing both
  text the customer; the last stored wins (the later text).
- **Intake** sends the PIN intake drew (the one customer service reads out) once the
  intake commits (``transaction.on_commit``). A Celery task taking ids only could not know
  that PIN without storing it in clear, and drawing another in the task would make the one
  customer service just read out wrong; so the intake's process sends it. A failure is
  logged and audited (``order.pin_sms_failed``); the order is unaffected.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from audits.services import record_event
from core.errors import Conflict
from orders.intake import _pin_hash, new_pin
from orders.models import FINISHED, Order
from privacy.api import Purpose, RevealDenied, SmsNotSent, VaultError, text_customer
from tenants.actors import Actor, SystemActor
from tenants.models import Role, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope

logger = logging.getLogger(__name__)

PIN_SENDER = SystemActor("delivery-pin-sms")


def _text(pin: str, code: str) -> str:
    """The customer's SMS, in the site's language (the customer's, not the language of the
    staff member who pressed the button)."""
    with translation.override(settings.LANGUAGE_CODE):
        return _(
            "Baomi: the delivery PIN of your order %(code)s is %(pin)s. Give it to the rider."
        ) % {"code": code, "pin": pin}


def _send(order: Order, pin: str) -> None:
    """Text ``pin`` to the order's customer; ``Conflict`` with a message for staff when the
    number cannot be revealed or the backend fails."""
    try:
        text_customer(
            order, actor=PIN_SENDER, purpose=Purpose.DELIVERY_PIN_SMS, text=_text(pin, order.code)
        )
    except SmsNotSent:
        raise Conflict(
            _("The SMS could not be sent; the PIN was not changed. Try again later."),
            reason="sms_not_sent",
        ) from None
    except (RevealDenied, VaultError):
        raise Conflict(
            _("The customer's phone number cannot be used; the PIN was not changed."),
            reason="phone_unavailable",
        ) from None


def resend_delivery_pin(*, order: Order, actor: Actor) -> None:
    """Customer service: a new delivery PIN for ``order``, texted to its customer. The old
    PIN stops working, the wrong-attempt counter restarts and a PIN lock is lifted."""
    if not isinstance(actor, User) or not has_role(actor, Role.CUSTOMER_SERVICE):
        raise PermissionDenied(_("Only customer service sends a new delivery PIN."))
    with tenant_scope(order.tenant):
        with transaction.atomic():
            current = Order.objects.get(pk=order.pk)
            if current.status in FINISHED:
                raise Conflict(_("This order is finished: it needs no PIN."), status=current.status)
        pin = new_pin()
        _send(current, pin)
        with transaction.atomic():
            locked = Order.objects.select_for_update(of=("self",)).get(pk=order.pk)
            if locked.status in FINISHED:
                raise Conflict(_("This order is finished: it needs no PIN."), status=locked.status)
            previous, unlocked = locked.pin_attempts, locked.pin_locked_at is not None
            locked.pin_hash = _pin_hash(locked, pin)
            locked.pin_attempts, locked.pin_locked_at = 0, None
            locked.save(update_fields=["pin_hash", "pin_attempts", "pin_locked_at"])
            record_event(
                tenant=locked.tenant,
                actor=actor,
                action="order.pin_resent",
                target=locked,
                details={"previous_attempts": previous, "unlocked": unlocked},
            )


def send_pin_after_intake(*, order: Order, pin: str, actor: Actor) -> None:
    """Called by intake inside its transaction: once it commits, text ``pin`` to the customer
    if the tenant sends PINs by SMS. The PIN stays in this closure, in memory."""
    if not order.tenant.send_pin_by_sms:
        return
    transaction.on_commit(lambda: _send_at_intake(order, pin, actor))


def _send_at_intake(order: Order, pin: str, actor: Actor) -> None:
    with tenant_scope(order.tenant):
        try:
            _send(order, pin)
        except Conflict as error:
            logger.warning("delivery PIN SMS for order %s not sent", order.pk)
            with transaction.atomic():
                record_event(
                    tenant=order.tenant,
                    actor=actor,
                    action="order.pin_sms_failed",
                    target=order,
                    details={"error": error.extra.get("reason", "")},
                )
            return
        with transaction.atomic():
            record_event(tenant=order.tenant, actor=actor, action="order.pin_sent", target=order)
