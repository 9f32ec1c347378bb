"""Ids that come from people: URLs, forms, typed evidence numbers."""

from __future__ import annotations

import re

_ID = re.compile(r"[0-9]{1,18}")


def parse_id(value: object) -> int | None:
    """A positive database id from a URL, a form or a typed number, else None. Only ASCII
    digits count — ``str.isdigit()`` accepts "²" and "٣", which ``int()`` then refuses or
    reads — and at most 18 of them, within a bigint. A bool is not an id."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value < 10**18 else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not _ID.fullmatch(text):
        return None
    number = int(text)
    return number if number > 0 else None
