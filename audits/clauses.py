"""The policy's clause numbers ("2.4.1", cited as "§2.4.1") as the registries use them."""

from __future__ import annotations


def clause_sort_key(clause: str) -> tuple[int, ...]:
    """ "2.10" after "2.9": numeric parts compared as numbers."""
    return tuple(int(part) if part.isdigit() else 0 for part in clause.split("."))
