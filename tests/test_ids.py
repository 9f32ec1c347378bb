import pytest

from core.ids import parse_id


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12", 12),
        (" 12 ", 12),
        (12, 12),
        ("²", None),
        ("٣", None),
        ("1" * 19, None),
        ("0", None),
        ("-3", None),
        ("", None),
        (True, None),
        (None, None),
        ("12a", None),
    ],
)
def test_only_ascii_digits_within_a_bigint_are_an_id(value, expected):
    assert parse_id(value) == expected
