"""Inspection checklists from the policy's clauses (issue 20, point 3): the items an
inspector works through, each citing its clause, contributed by the app that implements
the clause from its ``AppConfig.ready()`` (``audits`` never imports a later app)::

    from audits.checklists import ItemKind, register_checklist_item

    register_checklist_item(
        "orders.label_no_name", clause="3.3.1", kind=ItemKind.ON_SITE,
        text=_("Labels show no full name or phone"), scopes=("kitchen", "packing"),
    )

``kind`` says how the item is checked (on site, by interviewing staff, or in the records);
``scopes`` names the inspection scopes it belongs to (an inspection of "packing" gets the
packing items; a full inspection gets all of them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from audits.clauses import clause_sort_key
from audits.registry import KeyedRegistry


class ItemKind(models.TextChoices):
    ON_SITE = "on_site", _("On-site check")
    INTERVIEW = "interview", _("Staff interview")
    RECORDS = "records", _("Records review")


@dataclass(frozen=True)
class ChecklistItemSpec:
    key: str  # "<app>.<name>", unique and stable: findings keep it
    clause: str  # "3.3.1", without "§"
    kind: str
    text: str | Promise
    scopes: frozenset[str]


_items: KeyedRegistry[ChecklistItemSpec] = KeyedRegistry("Checklist item")


def register_checklist_item(
    key: str,
    *,
    clause: str,
    kind: ItemKind | str,
    text: str | Promise,
    scopes: Iterable[str] = (),
) -> ChecklistItemSpec:
    """Register (or register again, identically) the item ``key``; a different second
    registration under the same key is a programming error (``ValueError``)."""
    if not clause or clause.startswith("§"):
        raise ValueError(f"Checklist item {key!r}: give the clause as '3.3.1', without '§'.")
    spec = ChecklistItemSpec(key, clause, ItemKind(kind).value, text, frozenset(scopes))
    return _items.add(key, spec)


def unregister_checklist_item(key: str) -> None:
    """Forget an item (tests)."""
    _items.remove(key)


def all_checklist_items() -> list[ChecklistItemSpec]:
    """Every registered item, by clause then key."""
    return sorted(_items.values(), key=lambda s: (clause_sort_key(s.clause), s.key))
