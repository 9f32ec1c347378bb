"""The audit actions orders writes."""

from django.utils.translation import gettext_lazy as _

from core.audit_registry import AuditAction, AuditCategory

NAMESPACES = ("order",)

_DELIVERY = AuditCategory.DELIVERY
_ACCESS = AuditCategory.PERSONAL_DATA_ACCESS

ACTIONS = [
    AuditAction(
        "order.created",
        _("Order created"),
        _DELIVERY,
        frozenset({"code", "items", "channel", "notice_version", "subject"}),
    ),
    AuditAction(
        "order.transition",
        _("Order status changed"),
        _DELIVERY,
        frozenset({"from", "to", "seal", "reason"}),
    ),
    AuditAction("order.food_ready", _("Food marked ready"), _DELIVERY),
    AuditAction("order.pin_accepted", _("Delivery PIN accepted"), _DELIVERY),
    AuditAction("order.pin_rejected", _("Wrong delivery PIN"), _DELIVERY, frozenset({"attempts"})),
    AuditAction(
        "order.pin_locked",
        _("Delivery PIN locked after wrong attempts"),
        _DELIVERY,
        frozenset({"attempts"}),
    ),
    AuditAction(
        "order.pin_resent",
        _("New delivery PIN sent to the customer"),
        _DELIVERY,
        frozenset({"previous_attempts", "unlocked"}),
    ),
    AuditAction("order.pin_sent", _("Delivery PIN sent to the customer by SMS"), _DELIVERY),
    AuditAction(
        "order.pin_sms_failed",
        _("Delivery PIN SMS could not be sent"),
        _DELIVERY,
        frozenset({"error"}),
    ),
    # The order desk's search by the customer's phone (orders.desk): the vault records its
    # own search; this records how many orders the desk then listed, never the phone.
    AuditAction(
        "order.desk_phone_search",
        _("Orders searched by phone at the order desk"),
        _ACCESS,
        frozenset({"results"}),
    ),
    # A lost or damaged order's food made again (orders.remake): the new order's code.
    AuditAction(
        "order.remade",
        _("Order re-made as a new order"),
        _DELIVERY,
        frozenset({"code", "items", "remake_of", "subject"}),
    ),
]
