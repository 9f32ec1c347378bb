"""API input and output. Inputs reject unknown fields at every level (minimal collection)."""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any, ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.keyset import CURSOR_MAX_LENGTH, CURSOR_PATTERN
from core.keyset_api import CURSOR_DESCRIPTION
from orders.intake import ITEM_NAME_LIMIT, MAX_ITEMS, MAX_QUANTITY
from orders.lifecycle import SEAL_PATTERN
from orders.models import Order, Status
from privacy.api import LIMITS, Purpose, clean_text, normalise_phone

UNKNOWN_FIELD = _("Unknown field: Baomi collects only what delivery needs.")


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not declare, naming each one, at every level: the errors of
    unknown fields come together with those of the declared ones."""

    # Rules across fields that the schema states (JSON Schema keywords); enforced elsewhere.
    schema_rules: ClassVar[dict[str, Any]] = {}

    #: What an undeclared field is told (a query's filters say it otherwise).
    unknown_message: ClassVar[Any] = UNKNOWN_FIELD

    def to_internal_value(self, data: Any) -> Any:
        unknown = (
            {name: [self.unknown_message] for name in sorted(set(data) - set(self.fields))}
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


class StrictSerializerScheme(OpenApiSerializerExtension):
    """The schema says what StrictSerializer does: no properties but the declared ones."""

    target_class = StrictSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> Any:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema["additionalProperties"] = False
        return {**schema, **self.target.schema_rules}


class TextField(serializers.CharField):
    """Text only: DRF's CharField would take ``123`` as ``"123"``, which the schema (a
    string) does not promise. Limits apply to the text as sent (the schema's maxLength),
    not to it trimmed; the vault's checks trim it afterwards."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class WholeNumberField(serializers.IntegerField):
    """A JSON integer only: DRF's IntegerField would take ``"5"`` and ``5.0``."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return int(super().to_internal_value(data))


# What the vault's clean_text accepts, as patterns the schema publishes: whitespace at either
# end (trimmed), then text with at least one visible character and no control characters but
# tabs and line breaks; an optional text may also be whitespace only (it is stored blank).
_CONTROL = r"\x00-\x08\x0b-\x1f\x7f-\x9f"
_VISIBLE = r"[^\s\x00-\x1f\x7f-\x9f]"
_TEXT = rf"{_VISIBLE}(?:[^{_CONTROL}]*{_VISIBLE})?"
TEXT_PATTERN = rf"^\s*{_TEXT}\s*$"
OPTIONAL_TEXT_PATTERN = rf"^(?:\s+|\s*{_TEXT}\s*)$"
REQUIRED = _("This field is required.")
CONTROL_CHARACTERS = _("Must not contain control characters.")


class TextPattern(RegexValidator):
    """A pattern the schema publishes (drf-spectacular reads ``regex``). A NUL byte, which
    every pattern here refuses, is left to DRF's own check so that it is named once; the
    message is the vault's (clean_text) for what is wrong."""

    def __call__(self, value: Any) -> None:
        text = str(value)
        if "\x00" in text or re.search(self.regex, text):
            return
        raise DjangoValidationError(self.message)


class VisibleText(TextPattern):
    """Required text: blank is named as missing, anything else as control characters."""

    def __call__(self, value: Any) -> None:
        if not str(value).strip():
            raise DjangoValidationError(REQUIRED)
        super().__call__(value)


visible_text = VisibleText(TEXT_PATTERN, CONTROL_CHARACTERS)
optional_text = TextPattern(OPTIONAL_TEXT_PATTERN, CONTROL_CHARACTERS)
# The canonical forms privacy.phone.normalise_phone accepts: a mainland mobile, a landline
# with its area code, an international number. The server also takes spaces, dashes and
# brackets and a +86/0086 prefix; the schema names the canonical form only.
PHONE_PATTERN = r"^(?:1[3-9][0-9]{9}|0[0-9]{9,11}|\+[1-9][0-9]{7,14})$"


@extend_schema_field(
    {
        "type": "string",
        "maxLength": 32,
        "pattern": PHONE_PATTERN,
        "description": (
            "Canonical forms shown in the pattern; spaces, dashes, brackets and a +86 or "
            "0086 prefix are accepted too."
        ),
    }
)
class PhoneField(TextField):
    """A phone number, checked by privacy.phone.normalise_phone (in validate_phone)."""


# An item's name (orders.intake.clean_items): something visible, no NUL byte.
item_name = TextPattern(r"^[^\x00]*[^\s\x00][^\x00]*$", _("Give the item's name."))


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
    name = TextField(max_length=LIMITS["name"], validators=[visible_text])
    phone = PhoneField(max_length=32)
    address = TextField(max_length=LIMITS["address"], validators=[visible_text])

    def validate_name(self, value: str) -> str:
        return _vault_check(lambda: clean_text("name", value, required=True))

    def validate_phone(self, value: str) -> str:
        return _vault_check(lambda: normalise_phone(value))

    def validate_address(self, value: str) -> str:
        return _vault_check(lambda: clean_text("address", value, required=True))


class ItemIn(StrictSerializer):
    name = TextField(max_length=ITEM_NAME_LIMIT, validators=[item_name])
    quantity = WholeNumberField(min_value=1, max_value=MAX_QUANTITY)


class OrderIn(StrictSerializer):
    customer = CustomerIn()
    items = serializers.ListField(
        child=ItemIn(), allow_empty=False, min_length=1, max_length=MAX_ITEMS
    )
    note = TextField(
        max_length=LIMITS["note"],
        required=False,
        allow_blank=True,
        default="",
        validators=[optional_text],
    )

    def validate_note(self, value: str) -> str:
        return _vault_check(lambda: clean_text("note", value, required=False))

    privacy_notice_version = WholeNumberField(min_value=1)


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

    #: The columns a list of orders reads for it (never the sealed ``*_ct`` columns).
    LIST_COLUMNS = (
        "id",
        "code",
        "status",
        "recipient_masked",
        "phone_masked",
        "address_masked",
        "item_count",
        "seal_number",
        "created_at",
        "status_changed_at",
    )


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
    ``orders.intake.NewOrder``; rendered on every order taken, so its fields are built
    once."""

    id = serializers.UUIDField(source="order.id")
    code = serializers.CharField(source="order.code")
    status = serializers.ChoiceField(choices=Status.choices, source="order.status")
    customer = MaskedCustomerOut(source="order")
    items = ItemOut(many=True)
    created_at = serializers.DateTimeField(source="order.created_at")
    delivery_pin = serializers.CharField(source="pin")


class RevealIn(StrictSerializer):
    fields = serializers.ListField(
        child=serializers.ChoiceField(choices=Order.SEALED_FIELDS),
        allow_empty=False,
        min_length=1,
        max_length=5,
    )
    purpose = serializers.ChoiceField(choices=Purpose.choices)


class TransitionIn(StrictSerializer):
    to = serializers.ChoiceField(choices=Status.choices)
    seal_number = TextField(
        required=False,
        allow_blank=True,
        max_length=32,
        default="",
        # Blank, or a seal's number (orders.lifecycle.SEAL_PATTERN) with whitespace around it.
        validators=[
            RegexValidator(
                r"^\s*" + SEAL_PATTERN.pattern.strip("^$") + r"\s*$",
                _("Enter the seal's number: 4 to 32 letters, digits or hyphens."),
            )
        ],
        help_text="Required to pack an order (to: packed).",
    )

    # Packing needs the seal's number (checked by orders.lifecycle.transition_order).
    schema_rules: ClassVar[dict[str, Any]] = {
        "anyOf": [
            {"properties": {"to": {"enum": [s for s in Status.values if s != Status.PACKED]}}},
            {"properties": {"seal_number": {"minLength": 1}}, "required": ["seal_number"]},
        ]
    }


class OrderFilterIn(StrictSerializer):
    unknown_message = _(
        "Unknown parameter: the list filters by status, created_after and created_before, "
        "and pages by cursor (follow its next and previous links)."
    )

    status = serializers.ChoiceField(choices=Status.choices, required=False)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)
    # Read by the list's pagination (core.keyset_api); declared here so that it is known.
    cursor = serializers.CharField(
        required=False,
        max_length=CURSOR_MAX_LENGTH,
        help_text=CURSOR_DESCRIPTION,
        validators=[
            RegexValidator(
                CURSOR_PATTERN,
                _("This cursor cannot be read: use the next or previous link as given."),
            )
        ],
    )
