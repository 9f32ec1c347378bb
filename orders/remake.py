"""Re-making an order whose food was lost or damaged: a new order for the same customer
(the same data subject and notice record), the same items, address, phone, name and note,
sealed again for the new row inside the vault (``privacy.api.copy_sealed``: the clear text
never leaves it), with a new code and delivery PIN, linked to the original by
``Order.remake_of``. The kitchen sees it as any received order.

Two steps, because the copy's audit event is durable like a reveal's (it commits in a
transaction of its own, whatever the caller does next): ``prepare_remake`` copies the sealed
fields outside any transaction, then ``remake_order`` saves the prepared order inside the
caller's transaction, under its locks, refusing it if the original changed meanwhile."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from audits.services import record_event
from core.errors import Conflict
from orders.intake import CODE_ATTEMPTS, NewOrder, _new_code, _pin_hash, new_pin
from orders.models import Order, OrderTransition, Status
from orders.permissions import Action, may
from privacy.api import DataSubject, Purpose, SubjectErasedError, copy_sealed
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


def _erased() -> Conflict:
    return Conflict(
        _("The customer's data was erased: this order cannot be re-made."), reason="erased"
    )


def prepare_remake(*, order: Order, actor: Actor) -> Order:
    """The unsaved re-make of ``order`` for ``actor`` (who may take orders), its sealed
    fields copied inside the vault (``copy_sealed``, for the purpose "re-making an order":
    customer service only; its event is committed here). Outside any transaction (the copy
    runs in its own), inside the tenant's scope. An erased customer is a ``Conflict``."""
    if not may(actor, Action.CREATE):
        raise PermissionDenied(_("You may not take orders."))
    subject = DataSubject.objects.get(pk=order.subject_id)
    if subject.erased_at is not None:
        raise _erased()
    remake = Order(tenant=order.tenant, remake_of=order, status=Status.RECEIVED)
    for field in COPIED:
        setattr(remake, field, getattr(order, field))
    try:
        copy_sealed(
            order, remake, fields=Order.SEALED_FIELDS, actor=actor, purpose=Purpose.ORDER_REMAKE
        )
    except SubjectErasedError:
        raise _erased() from None
    return remake


def _sealed(order: Order) -> tuple[object, ...]:
    return (
        order.subject_id,
        *(bytes(getattr(order, f"{field}_ct")) for field in Order.SEALED_FIELDS),
    )


def remake_order(*, order: Order, prepared: Order, actor: Actor) -> NewOrder:
    """Save ``prepared`` (``prepare_remake(order=order)``) as the re-make of ``order``. Runs
    in the caller's transaction and tenant scope: the original's row is locked, and so is
    its customer's (against an erasure in between). A second re-make of the same order is a
    ``Conflict`` naming the first one's code; so is an erased customer, and an original whose
    sealed fields changed since the copy (a correction: try again). The new PIN is texted
    after the commit when the tenant sends PINs by SMS; ``NewOrder.pin`` holds it to be
    shown once."""
    if not may(actor, Action.CREATE):
        raise PermissionDenied(_("You may not take orders."))
    original = Order.objects.select_for_update().get(pk=order.pk)
    subject = DataSubject.objects.select_for_update().get(pk=original.subject_id)
    if subject.erased_at is not None:
        raise _erased()
    made = existing_remake(original)
    if made is not None:
        raise Conflict(
            _("This order was already re-made as order %(code)s.") % {"code": made.code},
            order=str(made.pk),
        )
    if prepared.remake_of_id != original.pk or _sealed(order) != _sealed(original):
        raise Conflict(_("The order was changed while it was being re-made; try again."))
    remake = prepared
    for field in COPIED:
        setattr(remake, field, getattr(original, field))
    pin = new_pin()
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
