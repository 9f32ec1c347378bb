"""Phone numbers: one normal form for validation, the blind index and masking."""

from __future__ import annotations

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_SEPARATORS = re.compile(r"[\s\-().\u00a0\u3000]")
_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_CN_LANDLINE = re.compile(r"^0\d{9,11}$")
_INTERNATIONAL = re.compile(r"^\+[1-9]\d{7,14}$")

INVALID_PHONE = _(
    "Enter a mobile number (11 digits starting with 1), a landline with its area code, "
    "or an international number starting with +."
)


def normalise_phone(raw: str) -> str:
    """``"+86 138-1234-5678"`` -> ``"13812345678"``; raises ValidationError if invalid."""
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw or ""))
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+86"):
        text = text[3:]
    elif text.startswith("86") and len(text) == 13:
        text = text[2:]
    if _CN_MOBILE.match(text) or _CN_LANDLINE.match(text) or _INTERNATIONAL.match(text):
        return text
    raise ValidationError(INVALID_PHONE, code="invalid_phone")
