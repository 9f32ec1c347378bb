"""Riders: profiles, confidentiality agreements and signatures, assignments, handover codes."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orders.models import Order
from tenants.models import TenantOwnedModel, User
from tenants.versioning import VersionedDocument


class Vehicle(models.TextChoices):
    BICYCLE = "bicycle", _("Bicycle")
    E_BIKE = "e_bike", _("Electric bike")
    SCOOTER = "scooter", _("Scooter")
    CAR = "car", _("Car")
    ON_FOOT = "on_foot", _("On foot")


class Rider(TenantOwnedModel):
    user = models.ForeignKey(
        User, on_delete=models.PROTECT, db_index=False, related_name="+", verbose_name=_("user")
    )
    vehicle = models.CharField(
        _("vehicle"), max_length=16, choices=Vehicle.choices, default=Vehicle.E_BIKE
    )
    on_shift = models.BooleanField(_("on shift"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("rider")
        verbose_name_plural = _("riders")
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="rider_user")]
        indexes = [
            models.Index(fields=["tenant", "on_shift", "is_active"], name="rider_dispatchable")
        ]

    def __str__(self) -> str:
        return f"{self.user.username}" if self.user_id else f"rider {self.pk}"


class ConfidentialityAgreement(VersionedDocument):
    """What riders promise, versioned (``tenants.versioning``); a new version needs a new
    signature from everyone."""

    text_zh = models.TextField(_("text (Chinese)"))
    text_en = models.TextField(_("text (English)"))

    class Meta(VersionedDocument.Meta):
        verbose_name = _("confidentiality agreement")
        verbose_name_plural = _("confidentiality agreements")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "version"], name="agreement_version")
        ]

    def text_for(self, language: str) -> tuple[str, str]:
        """(language code shown, text) — Chinese unless the page is in English."""
        return ("en", self.text_en) if language.startswith("en") else ("zh-hans", self.text_zh)


class AgreementSignature(TenantOwnedModel):
    """Who signed which version, when, from where, and a hash of the exact text shown."""

    rider = models.ForeignKey(
        Rider, on_delete=models.PROTECT, db_index=False, related_name="signatures"
    )
    agreement = models.ForeignKey(
        ConfidentialityAgreement, on_delete=models.PROTECT, db_index=False
    )
    language = models.CharField(max_length=8)
    text_sha256 = models.CharField(max_length=64)
    signed_at = models.DateTimeField(auto_now_add=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("agreement signature")
        verbose_name_plural = _("agreement signatures")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "rider", "agreement"], name="signature_once"),
        ]
        indexes = [models.Index(fields=["tenant", "agreement"], name="signature_agreement")]

    def __str__(self) -> str:
        return f"{self.rider_id}@v{self.agreement_id}"


class HeldLocation(models.TextChoices):
    RESTAURANT_COUNTER = "restaurant_counter", _("Restaurant counter")
    PARCEL_LOCKER = "parcel_locker", _("Parcel locker")
    BUILDING_RECEPTION = "building_reception", _("Building reception")
    RIDER_STATION = "rider_station", _("Rider station")


class EndReason(models.TextChoices):
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
    REASSIGNED = "reassigned", _("Reassigned")
    UNASSIGNED = "unassigned", _("Unassigned")


class Assignment(TenantOwnedModel):
    """A rider carrying an order. While ``ended_at`` is empty the rider holds guardian's
    ``deliver_order`` permission on the order and a relay number to call the customer."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, db_index=False, related_name="+")
    rider = models.ForeignKey(
        Rider, on_delete=models.PROTECT, db_index=False, related_name="assignments"
    )
    assigned_by = models.CharField(max_length=64)
    assigned_at = models.DateTimeField(auto_now_add=True)
    picked_up_at = models.DateTimeField(null=True, blank=True)
    held_location = models.CharField(max_length=24, choices=HeldLocation.choices, blank=True)
    held_note_ct = models.BinaryField(default=b"")  # sealed under the customer's key
    held_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=16, choices=EndReason.choices, blank=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        constraints = [
            # One live assignment per order.
            models.UniqueConstraint(
                fields=["tenant", "order"],
                condition=models.Q(ended_at__isnull=True),
                name="assignment_one_live_per_order",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "rider", "ended_at"], name="assignment_rider_live"),
            models.Index(fields=["tenant", "order", "assigned_at"], name="assignment_order"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}->{self.rider_id}"


class HandoverCode(TenantOwnedModel):
    """A single-use code customer service issues when the customer cannot give the PIN,
    after verifying them on a relay call. Stored as a keyed hash."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, db_index=False, related_name="+")
    code_hash = models.CharField(max_length=64)
    issued_by = models.CharField(max_length=64)
    reason = models.CharField(_("reason"), max_length=200)
    issued_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("handover code")
        verbose_name_plural = _("handover codes")
        indexes = [
            models.Index(fields=["tenant", "order", "issued_at"], name="handover_code_order")
        ]

    def __str__(self) -> str:
        # In the active zone: the tenant's, in its requests (tenants.middleware).
        return f"{self.order_id}@{timezone.localtime(self.issued_at):%Y-%m-%d %H:%M}"
