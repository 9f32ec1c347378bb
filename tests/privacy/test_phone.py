from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from privacy.phone import normalise_phone


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("13812345678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("0086-138-1234-5678", "13812345678"),
        ("86 13812345678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),
        ("010-12345678", "01012345678"),
        ("+1 (415) 555-0100", "+14155550100"),
        ("00 44 7700 900123", "+447700900123"),
    ],
)
def test_normalise_phone(raw: str, normal: str) -> None:
    assert normalise_phone(raw) == normal


@pytest.mark.parametrize(
    "raw",
    ["", "12345", "1381234567", "138123456789", "23812345678", "abc", "138\x001234567", "+0123"],
)
def test_invalid_phone_is_refused_with_a_message(raw: str) -> None:
    with pytest.raises(ValidationError) as error:
        normalise_phone(raw)
    assert error.value.messages[0].startswith("Enter a mobile number (11 digits starting with 1)")
