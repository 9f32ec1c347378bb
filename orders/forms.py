from __future__ import annotations

import re
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from unfold.widgets import (
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanWidget,
)

from orders.intake import clean_items
from orders.models import Order
from privacy.api import (
    LIMITS,
    NoticeChannel,
    PrivacyNotice,
    Purpose,
    clean_contact,
    reveal_choices,
)

_QUANTITY = re.compile(r"^\s*[x×*]\s*(\d{1,3})\s*$", re.IGNORECASE)
ITEMS_TEXT_LIMIT = 5000


def parse_item_lines(text: str) -> list[dict[str, Any]]:
    """One item per line, "name × quantity" (× or x or *; quantity 1 when omitted)."""
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        line = line.strip()
        name, quantity = line, 1
        cut = max(line.rfind(sign) for sign in "x×*X")
        if cut > 0:
            match = _QUANTITY.match(line[cut:])
            if match:
                name, quantity = line[:cut].strip(), int(match.group(1))
        if not name:
            raise ValidationError(_("Line %(n)d: write “name × quantity”.") % {"n": number})
        items.append({"name": name, "quantity": quantity})
    return items


class OrderIntakeForm(forms.ModelForm):
    """Customer service takes an order: only the allowed fields, and the notice shown."""

    # The back office's widgets (django-unfold's look).
    customer_name = forms.CharField(
        label=_("Customer name"),
        max_length=LIMITS["name"],
        widget=UnfoldAdminTextInputWidget(attrs={"autocomplete": "off"}),
    )
    customer_phone = forms.CharField(
        label=_("Phone"),
        max_length=32,
        widget=UnfoldAdminTextInputWidget(attrs={"autocomplete": "off", "inputmode": "tel"}),
    )
    delivery_address = forms.CharField(
        label=_("Delivery address"),
        max_length=LIMITS["address"],
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 2}),
    )
    items = forms.CharField(
        label=_("Items"),
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 4}),
        max_length=ITEMS_TEXT_LIMIT,
        help_text=_("One item per line: name × quantity."),
    )
    note = forms.CharField(
        label=_("Delivery note"),
        max_length=LIMITS["note"],
        required=False,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 2}),
    )
    channel = forms.ChoiceField(
        label=_("Notice shown"),
        widget=UnfoldAdminSelectWidget,
        initial=NoticeChannel.PHONE,
        choices=[
            (NoticeChannel.PHONE, NoticeChannel.PHONE.label),
            (NoticeChannel.BACK_OFFICE, NoticeChannel.BACK_OFFICE.label),
        ],
    )
    notice_confirmed = forms.BooleanField(
        label=_("The customer was shown the privacy notice"), widget=UnfoldBooleanWidget
    )

    class Meta:
        model = Order
        fields: list[str] = []

    notice: PrivacyNotice | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.notice is not None:
            self.fields["notice_confirmed"].label = _(
                "The customer was shown privacy notice v%(version)d"
            ) % {"version": self.notice.version}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.notice is None:
            raise ValidationError(_("Publish a privacy notice before taking orders."))
        try:
            data["parsed_items"] = clean_items(parse_item_lines(data.get("items", "")))
        except ValidationError as error:
            self.add_error(
                "items",
                error.messages
                if not hasattr(error, "error_dict")
                else [m for ms in error.message_dict.values() for m in ms],
            )
        if {"customer_name", "customer_phone", "delivery_address"} <= set(data):
            try:
                clean_contact(
                    name=data["customer_name"],
                    phone=data["customer_phone"],
                    address=data["delivery_address"],
                    note=data.get("note", ""),
                )
            except ValidationError as error:
                names = {
                    "name": "customer_name",
                    "phone": "customer_phone",
                    "address": "delivery_address",
                    "note": "note",
                }
                for field, messages in error.message_dict.items():
                    self.add_error(names[field], messages)
        return data


FIELD_LABELS = {
    "name": _("Name"),
    "phone": _("Phone"),
    "address": _("Address"),
    "note": _("Note"),
    "items": _("Items"),
}


class RevealForm(forms.Form):
    reveal_fields = forms.MultipleChoiceField(
        label=_("Show"),
        choices=[(f, FIELD_LABELS[f]) for f in Order.SEALED_FIELDS],
        widget=forms.CheckboxSelectMultiple,
    )
    purpose = forms.ChoiceField(label=_("Purpose"), choices=Purpose.choices)

    def __init__(self, *args: Any, actor: Any, **kwargs: Any) -> None:
        """Offers ``actor`` only the fields and purposes their roles may reveal here (the
        vault decides again on the record)."""
        super().__init__(*args, **kwargs)
        fields, purposes = reveal_choices(actor)
        field_choices = [(f, FIELD_LABELS[f]) for f in Order.SEALED_FIELDS if f in fields]
        cast(forms.ChoiceField, self.fields["reveal_fields"]).choices = field_choices
        cast(forms.ChoiceField, self.fields["purpose"]).choices = [
            (p, Purpose(p).label) for p in purposes
        ]
        if len(purposes) == 1:
            self.fields["purpose"].initial = purposes[0]
        self.offers_anything = bool(field_choices and purposes)
