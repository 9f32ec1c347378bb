"""Orders. Personal data (recipient name, phone, address, note, items) is sealed under the
customer's subject key (privacy vault); lists use the masks stored beside it."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from privacy.api import DataSubject, NoticeRecord
from tenants.models import TenantOwnedModel

PIN_MAX_ATTEMPTS = 5


class Status(models.TextChoices):
    RECEIVED = "received", _("Received")
    PREPARING = "preparing", _("Preparing")
    PACKED = "packed", _("Packed")
    ASSIGNED = "assigned", _("Assigned to a rider")
    PICKED_UP = "picked_up", _("Picked up")
    HELD = "held", _("Held in temporary storage")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Delivery failed")
    CANCELLED = "cancelled", _("Cancelled")


FINISHED = frozenset({Status.DELIVERED, Status.FAILED, Status.CANCELLED})


# The unique order code per tenant; intake redraws a code when this constraint refuses it.
CODE_CONSTRAINT = "order_code_per_tenant"


class Order(TenantOwnedModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    code = models.CharField(_("order code"), max_length=16)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.RECEIVED
    )
    subject = models.ForeignKey(
        DataSubject,
        on_delete=models.PROTECT,
        db_index=False,
        related_name="+",
        verbose_name=_("customer"),
    )
    notice_record = models.ForeignKey(
        NoticeRecord,
        on_delete=models.PROTECT,
        db_index=False,
        related_name="+",
        verbose_name=_("privacy notice shown"),
    )
    # Sealed under the subject key (privacy.registry); binding: tenant, table, field, row.
    name_ct = models.BinaryField()
    phone_ct = models.BinaryField()
    address_ct = models.BinaryField()
    note_ct = models.BinaryField()
    items_ct = models.BinaryField()
    # Display masks, computed at intake.
    recipient_masked = models.CharField(_("recipient"), max_length=40)
    phone_masked = models.CharField(_("phone"), max_length=24)
    address_masked = models.CharField(_("delivery address"), max_length=120)
    district = models.CharField(_("district"), max_length=60)
    # Non-personal facts, kept after erasure for statistics.
    item_count = models.PositiveIntegerField(_("items"))
    seal_number = models.CharField(_("seal number"), max_length=32, blank=True)
    kitchen_ready_at = models.DateTimeField(_("food ready at"), null=True, blank=True)
    pin_hash = models.CharField(max_length=64)
    pin_attempts = models.PositiveSmallIntegerField(_("wrong PIN attempts"), default=0)
    pin_locked_at = models.DateTimeField(_("PIN locked at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    status_changed_at = models.DateTimeField(_("status changed at"), auto_now_add=True)
    # A lost or damaged order's food made again (orders.remake): the new order points to the
    # original; an original is re-made at most once (a unique constraint led by the tenant,
    # like every index of a tenant-owned table).
    remake_of = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,
        related_name="+",
        verbose_name=_("re-make of"),
        editable=False,
    )

    SEALED_FIELDS = ("name", "phone", "address", "note", "items")

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at"]
        permissions = [("deliver_order", _("Can deliver this order (object permission)"))]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "code"], name=CODE_CONSTRAINT),
            models.UniqueConstraint(
                fields=["tenant", "remake_of"],
                condition=models.Q(remake_of__isnull=False),
                name="order_remade_once",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "created_at"], name="order_status_time"),
            # The lists' order (orders.api.OrderPages, the back office): newest first, the id
            # breaking ties, so that a page starts at a position (keyset), never an offset.
            models.Index(fields=["tenant", "-created_at", "-id"], name="order_list"),
            models.Index(fields=["tenant", "subject"], name="order_subject"),
            models.Index(fields=["tenant", "notice_record"], name="order_notice"),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED


class OrderTransition(TenantOwnedModel):
    """Every status change: when, from what, to what, by whom."""

    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, db_index=False, related_name="transitions"
    )
    from_status = models.CharField(max_length=16, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=Status.choices)
    actor = models.CharField(max_length=64)
    at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("status change")
        verbose_name_plural = _("status changes")
        ordering = ["at"]
        indexes = [models.Index(fields=["tenant", "order", "at"], name="order_transition_order")]

    def __str__(self) -> str:
        return f"{self.from_status}->{self.to_status}"


class OrderUserObjectPermission(UserObjectPermissionBase):
    """django-guardian's direct foreign-key permission rows for orders: "my orders" joins
    on an indexed order id instead of a generic (content type, text id) pair."""

    content_object = models.ForeignKey(Order, on_delete=models.CASCADE)


class OrderGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Order, on_delete=models.CASCADE)
