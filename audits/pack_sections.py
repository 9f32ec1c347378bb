"""The evidence pack's section registry (issue 20, point 6): what each app puts into the
signed archive a regulator receives, without ``audits`` importing the app.

Each app registers its sections from its ``AppConfig.ready()``::

    from audits.pack_sections import PackFile, PackSection, register_pack_section

    def reveal_log(tenant, period):
        rows = ...  # ids, codes, labels: never a customer's personal data
        return PackSection(
            files=[PackFile("reveals.csv", ("time", "user", "order", "field", "purpose"), rows)],
            summary=[(_("Reveals"), len(rows))],
        )

    register_pack_section(
        "privacy.reveals", title=_("Reveal log"), order=10, build=reveal_log,
    )

``build(tenant, period)`` runs inside the tenant's scope (in the pack's background job)
and returns a ``PackSection``: CSV files (a header and rows of plain values; ``rows`` may
be an iterator, so a large log streams) and a summary for the printable overview (label,
value pairs, and optional free ``notes``). File names are unique within the pack (the
builder refuses a clash); use the section's key as a prefix when in doubt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.functional import Promise

from audits.panels import Period
from audits.registry import KeyedRegistry
from tenants.models import Tenant


@dataclass(frozen=True)
class PackFile:
    name: str  # "reveals.csv": a plain file name, no directory
    header: Sequence[str | Promise]  # lazy labels are written in the pack's language
    rows: Iterable[Sequence[Any]]


@dataclass(frozen=True)
class PackSection:
    files: list[PackFile] = field(default_factory=list)
    summary: list[tuple[str | Promise, Any]] = field(default_factory=list)
    notes: list[str | Promise] = field(default_factory=list)


@dataclass(frozen=True)
class PackSectionSpec:
    key: str  # "<app>.<name>", unique
    title: str | Promise
    order: int
    build: Callable[[Tenant, Period], PackSection]


_sections: KeyedRegistry[PackSectionSpec] = KeyedRegistry("Pack section")


def register_pack_section(
    key: str,
    *,
    title: str | Promise,
    order: int,
    build: Callable[[Tenant, Period], PackSection],
) -> PackSectionSpec:
    """Register (or register again, identically) the section ``key``; a different second
    registration under the same key is a programming error (``ValueError``)."""
    return _sections.add(key, PackSectionSpec(key, title, order, build))


def unregister_pack_section(key: str) -> None:
    """Forget a section (tests)."""
    _sections.remove(key)


def all_pack_sections() -> list[PackSectionSpec]:
    return sorted(_sections.values(), key=lambda s: (s.order, s.key))
