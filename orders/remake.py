"""Re-making an order whose food was lost or damaged: a new order for the same customer
(the same data subject and notice record), the same items, address, phone, name and note,
sealed again for the new row inside the vault (``privacy.api.copy_sealed``: the clear text
never leaves it), with a new code and delivery PIN, linked to the original by
``Order.remake_of``. The kitchen sees it as any received order."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from audits.services import record_event
from core.errors import Conflict
from orders.intake import CODE_ATTEMPTS, NewOrder, _new_code, _pin_hash, new_pin
from orders.models import Order, OrderTransition, Status
from orders.permissions import Action, may
from privacy.api import DataSubject, copy_sealed
from tenants.actors import Actor, actor_label
from tenants.bulk import insert_rows

COPIED = (
    "recipient_masked",
    "phone_masked",
    "address_masked",
    "district",
    "item_count",
    "subject_id",
    "notice_record_id",
)


def existing_remake(order: Order) -> Order | None:
    return Order.objects.filter(remake_of=order).first()


def remake_order(*, order: Order, actor: Actor) -> NewOrder:
    """Create the re-make of ``order`` for ``actor`` (who may take orders). Runs in the
    caller's transaction and tenant scope: the original's row is locked, and so is its
    customer's (against an erasure in between). A second re-make of the same order is a
    ``Conflict`` naming the first one's code; so is an erased customer. The new PIN is
    texted after the commit when the tenant sends PINs by SMS; ``NewOrder.pin`` holds it
    to be shown once."""
    if not may(actor, Action.CREATE):
        raise PermissionDenied(_("You may not take orders."))
    original = Order.objects.select_for_update().get(pk=order.pk)
    subject = DataSubject.objects.select_for_update().get(pk=original.subject_id)
    if subject.erased_at is not None:
        raise Conflict(
            _("The customer's data was erased: this order cannot be re-made."),
            reason="erased",
        )
    made = existing_remake(original)
    if made is not None:
        raise Conflict(
            _("This order was already re-made as order %(code)s.") % {"code": made.code},
            order=str(made.pk),
        )
    pin = new_pin()
    remake = Order(tenant=original.tenant, remake_of=original, status=Status.RECEIVED)
    for field in COPIED:
        setattr(remake, field, getattr(original, field))
    copy_sealed(original, remake, fields=Order.SEALED_FIELDS, actor=actor)
    remake.pin_hash = _pin_hash(remake, pin)
    for _attempt in range(CODE_ATTEMPTS):
        remake.code = _new_code()
        if insert_rows(Order, [remake], skip_conflicts=True):
            break
    else:
        raise Conflict(_("Could not allocate an order code; try again."))
    remake._state.adding = False
    OrderTransition(
        tenant=remake.tenant,
        order=remake,
        from_status="",
        to_status=Status.RECEIVED,
        actor=actor_label(actor),
    ).save()
    record_event(
        tenant=remake.tenant,
        actor=actor,
        action="order.remade",
        target=remake,
        details={
            "code": remake.code,
            "items": remake.item_count,
            "remake_of": str(original.pk),
            "subject": str(remake.subject_id),
        },
    )
    from orders.pins import send_pin_after_intake  # builds on orders.intake

    send_pin_after_intake(order=remake, pin=pin, actor=actor)
    return NewOrder(order=remake, pin=pin, items=[])
