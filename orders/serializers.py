"""API input and output. Inputs reject unknown fields at every level (minimal collection)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from orders.models import Order, Status
from orders.services import ITEM_NAME_LIMIT, MAX_ITEMS, MAX_QUANTITY
from privacy.permissions import Purpose
from privacy.phone import normalise_phone
from privacy.services import LIMITS, clean_text

UNKNOWN_FIELD = _("Unknown field: Baomi collects only what delivery needs.")


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not declare, naming each one, at every level: the errors of
    unknown fields come together with those of the declared ones."""

    def to_internal_value(self, data: Any) -> Any:
        unknown = (
            {name: [UNKNOWN_FIELD] for name in sorted(set(data) - set(self.fields))}
            if isinstance(data, dict)
            else {}
        )
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            if isinstance(error.detail, dict):
                raise serializers.ValidationError({**unknown, **error.detail}) from None
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


def _vault_check(check: Any) -> Any:
    """Run a privacy-vault validator, turning Django's ValidationError into DRF's."""
    try:
        return check()
    except DjangoValidationError as error:
        raise serializers.ValidationError(
            error.messages[0]
            if not hasattr(error, "error_dict")
            else next(iter(error.message_dict.values()))
        ) from None


class CustomerIn(StrictSerializer):
    name = serializers.CharField(max_length=LIMITS["name"])
    phone = serializers.CharField(max_length=32)
    address = serializers.CharField(max_length=LIMITS["address"])

    def validate_name(self, value: str) -> str:
        return _vault_check(lambda: clean_text("name", value, required=True))

    def validate_phone(self, value: str) -> str:
        return _vault_check(lambda: normalise_phone(value))

    def validate_address(self, value: str) -> str:
        return _vault_check(lambda: clean_text("address", value, required=True))


class ItemIn(StrictSerializer):
    name = serializers.CharField(max_length=ITEM_NAME_LIMIT)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)


class OrderIn(StrictSerializer):
    customer = CustomerIn()
    items = serializers.ListField(child=ItemIn(), allow_empty=False, max_length=MAX_ITEMS)
    note = serializers.CharField(
        max_length=LIMITS["note"], required=False, allow_blank=True, default=""
    )

    def validate_note(self, value: str) -> str:
        return _vault_check(lambda: clean_text("note", value, required=False))

    privacy_notice_version = serializers.IntegerField(min_value=1)


class MaskedCustomerOut(serializers.Serializer):
    name = serializers.CharField(source="recipient_masked")
    phone = serializers.CharField(source="phone_masked")
    address = serializers.CharField(source="address_masked")


class OrderOut(serializers.ModelSerializer):
    """What lists and details show: masks and non-personal facts, never clear data."""

    customer = MaskedCustomerOut(source="*")

    class Meta:
        model = Order
        fields = [
            "id",
            "code",
            "status",
            "customer",
            "item_count",
            "seal_number",
            "created_at",
            "status_changed_at",
        ]


class ItemOut(serializers.Serializer):
    name = serializers.CharField()
    quantity = serializers.IntegerField()


class FieldsBuiltOnce(serializers.Serializer):
    """An output serializer whose fields are built once per class, not on every instance
    (DRF deep-copies and binds every declared field, nested ones included, each time).
    The shared fields are bound to an empty instance of the class, so they hold no data
    of any request; only for fields that read nothing from the serializer they are bound
    to (no context, no request), and never for input."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "data" in kwargs:
            raise TypeError(f"{type(self).__name__} is for output only")
        super().__init__(*args, **kwargs)

    @cached_property
    def fields(self) -> Any:
        cls = type(self)
        shared = cls.__dict__.get("_fields_built_once")
        if shared is None:
            blank = cls()
            # Read-only: a change made through one instance would reach every response.
            shared = MappingProxyType(serializers.Serializer.fields.func(blank))
            cls._fields_built_once = shared
        return shared


class OrderCreatedOut(FieldsBuiltOnce):
    """The intake response: the only time the delivery PIN is ever shown. Serialises an
    ``orders.services.NewOrder``; rendered on every order taken, so its fields are built
    once."""

    id = serializers.UUIDField(source="order.id")
    code = serializers.CharField(source="order.code")
    status = serializers.CharField(source="order.status")
    customer = MaskedCustomerOut(source="order")
    items = ItemOut(many=True)
    created_at = serializers.DateTimeField(source="order.created_at")
    delivery_pin = serializers.CharField(source="pin")


class RevealIn(StrictSerializer):
    fields = serializers.ListField(
        child=serializers.ChoiceField(choices=Order.SEALED_FIELDS), allow_empty=False, max_length=5
    )
    purpose = serializers.ChoiceField(choices=Purpose.choices)


class TransitionIn(StrictSerializer):
    to = serializers.ChoiceField(choices=Status.choices)
    seal_number = serializers.CharField(required=False, allow_blank=True, max_length=32, default="")


class OrderFilterIn(StrictSerializer):
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)
    page = serializers.IntegerField(min_value=1, required=False)
