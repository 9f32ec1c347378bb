"""The audit actions riders writes, and the ``order.*`` codes it wrote before they were
renamed (legacy: displayed with their label, never written again)."""

from django.utils.translation import gettext_lazy as _

from core.audit_registry import AuditAction, AuditCategory

NAMESPACES = ("riders",)

_DELIVERY = AuditCategory.DELIVERY
_SECURITY = AuditCategory.SECURITY

# (new code, code written before the rename, label, details keys)
_STEPS = [
    (
        "riders.order_assigned",
        "order.assigned",
        _("Rider assigned to order"),
        {"rider", "reassigned", "training_grace"},
    ),
    (
        "riders.order_unassigned",
        "order.unassigned",
        _("Rider's assignment ended"),
        {"rider", "reason"},
    ),
    (
        "riders.pickup_mismatch",
        "order.pickup_mismatch",
        _("Order code or seal did not match at pickup"),
        {"code_ok", "seal_ok"},
    ),
    ("riders.order_held", "order.held", _("Package held in temporary storage"), {"location"}),
    ("riders.relay_call", "order.relay_call", _("Relay call connected"), {"assignment"}),
    ("riders.handed_over", "order.handed_over", _("Order handed over"), {"with"}),
    (
        "riders.handover_code_issued",
        "order.handover_code_issued",
        _("Handover code issued"),
        {"code"},
    ),
    (
        "riders.handover_code_rejected",
        "order.handover_code_rejected",
        _("Handover code rejected"),
        set(),
    ),
]

ACTIONS = [
    # A dispatcher's assignment refused because the rider may not be dispatched (the
    # reasons counted; the training gate's unmet courses by code: training.gates).
    AuditAction(
        "riders.dispatch_refused",
        _("Dispatch of a rider refused"),
        _DELIVERY,
        frozenset({"rider", "reasons", "training_refused"}),
    ),
    AuditAction(
        "riders.agreement_published",
        _("Confidentiality agreement published"),
        _SECURITY,
        frozenset({"version"}),
    ),
    AuditAction(
        "riders.agreement_signed",
        _("Confidentiality agreement signed"),
        _SECURITY,
        frozenset({"version", "language"}),
    ),
    AuditAction("riders.rider_created", _("Rider created"), _SECURITY),
    AuditAction(
        "riders.rider_changed",
        _("Rider profile changed"),
        _SECURITY,
        # ``on_shift``: the shift's new state when it changed (the alerts read it, issue 20).
        frozenset({"fields", "on_shift"}),
    ),
    *(AuditAction(code, label, _DELIVERY, frozenset(keys)) for code, _old, label, keys in _STEPS),
    *(
        AuditAction(old, label, _DELIVERY, frozenset(keys), legacy=True)
        for _code, old, label, keys in _STEPS
    ),
]
