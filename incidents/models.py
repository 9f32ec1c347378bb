"""Order anomalies: what went wrong with an order, for customer service to follow up.

Minimal for now (kind, who reported it, when; who resolved it, when, with which outcome
and a short note); a later issue adds leak incidents, investigations, customer
notifications and feedback. A report carries no free text; the resolution's note is short,
without control characters, and the form asks for no personal data."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from orders.models import Order
from tenants.models import TenantOwnedModel


class AnomalyKind(models.TextChoices):
    PIN_LOCKED = "pin_locked", _("Delivery PIN locked after wrong attempts")
    SEAL_MISMATCH = "seal_mismatch", _("Order code or seal did not match at pickup")
    LOST = "lost", _("Package lost")
    DAMAGED = "damaged", _("Package damaged")
    WRONG_ADDRESS = "wrong_address", _("Wrong address")
    CUSTOMER_UNREACHABLE = "customer_unreachable", _("Customer unreachable")
    DATA_ERASED = "data_erased", _("Customer's data erased before delivery")


class AnomalyOutcome(models.TextChoices):
    RESOLVED_WITH_CUSTOMER = "resolved_with_customer", _("Resolved with the customer")
    REDELIVERED = "redelivered", _("Redelivered")
    REFUNDED = "refunded", _("Refunded")
    NO_ACTION = "no_action", _("No action needed")
    ESCALATED = "escalated", _("Escalated to an incident")


NOTE_MAX_LENGTH = 200


class OrderAnomaly(TenantOwnedModel):
    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, db_index=False, related_name="+", verbose_name=_("order")
    )
    kind = models.CharField(_("kind"), max_length=24, choices=AnomalyKind.choices)
    reported_by = models.CharField(_("reported by"), max_length=64)
    reported_at = models.DateTimeField(_("reported at"), auto_now_add=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_by = models.CharField(_("resolved by"), max_length=64, blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=32, choices=AnomalyOutcome.choices, blank=True
    )
    note = models.CharField(_("note"), max_length=NOTE_MAX_LENGTH, blank=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("order anomaly")
        verbose_name_plural = _("order anomalies")
        ordering = ["-reported_at"]
        indexes = [
            models.Index(fields=["tenant", "resolved_at", "reported_at"], name="anomaly_open"),
            models.Index(fields=["tenant", "order"], name="anomaly_order"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None
