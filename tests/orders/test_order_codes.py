"""Order codes: ten characters of the code alphabet, each equally likely."""

from __future__ import annotations

import re
from collections import Counter

from orders.intake import CODE_ALPHABET, _new_code


def test_codes_are_two_groups_of_five_characters_of_the_alphabet() -> None:
    pattern = re.compile(rf"[{CODE_ALPHABET}]{{5}}-[{CODE_ALPHABET}]{{5}}")
    assert all(pattern.fullmatch(_new_code()) for _ in range(2000))


def test_every_character_of_the_alphabet_is_equally_likely() -> None:
    counts = Counter(char for _ in range(30_000) for char in _new_code().replace("-", ""))
    # 300 000 characters, 10 000 expected each (standard deviation about 100); a modulo
    # bias (bytes 0..255 mod 30) would give some characters 9/8 of the others' share.
    assert (len(counts), max(counts.values()) / min(counts.values()) < 1.08) == (
        len(CODE_ALPHABET),
        True,
    )
