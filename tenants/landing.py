"""Where each role's work is: the pages outside the admin that a role uses all day (the
kitchen and packing stations, the rider page). Apps register them in ``AppConfig.ready()``
(tenants cannot import the apps that own the pages); the back office links to them, and a
user whom the admin has nothing to show lands on the first of them instead of "You don't
have permission to view or edit anything". A ``primary`` page (the dispatch board) is where
its role lands at ``/admin/`` even when the admin has models to show that role."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.urls import reverse
from django.utils.functional import Promise

from tenants.roles import roles_of


@dataclass(frozen=True)
class Landing:
    role: str
    url_name: str
    label: str | Promise
    icon: str = ""
    primary: bool = False
    last: bool = False

    @property
    def url(self) -> str:
        return reverse(self.url_name)


_landings: list[Landing] = []


def register_landing(
    role: str,
    url_name: str,
    label: str | Promise,
    icon: str = "",
    *,
    primary: bool = False,
    last: bool = False,
) -> None:
    """``role``'s work page ``url_name`` (a URL name without arguments); ``icon`` names a
    Material Symbol for the back office's sidebar; ``primary`` makes ``/admin/`` send the
    role there instead of showing the admin's index; ``last`` lists the page after the
    role's other pages (a page every role has, such as "My training", whose app is in an
    earlier layer, is never where a role lands)."""
    landing = Landing(str(role), url_name, label, icon, primary, last)
    if landing not in _landings:
        _landings.append(landing)


def landings_for(user: object) -> list[Landing]:
    """The work pages of ``user``'s roles, in registration order, each page once."""
    roles, seen, found = roles_of(user), set(), []
    for landing in sorted(_landings, key=lambda page: page.last):
        if landing.role in roles and landing.url_name not in seen:
            seen.add(landing.url_name)
            found.append(landing)
    return found


# Counts shown beside a work page in the sidebar (open anomalies beside the order desk),
# registered by the app that owns what is counted: tenants imports none of them.
_badges: dict[str, Callable[[Any], int]] = {}
BADGE_CAP = 99


def register_landing_badge(url_name: str, count: Callable[[Any], int]) -> None:
    """``count(user)``: how many things wait on the work page ``url_name`` for ``user`` (run
    inside the request's tenant scope); 0 shows no badge."""
    _badges[url_name] = count


def landing_badge(url_name: str, user: Any) -> str:
    """The badge of ``url_name`` for ``user``: "", a number, or "99+"."""
    count = _badges.get(url_name)
    if count is None:
        return ""
    n = count(user)
    return "" if n <= 0 else (str(n) if n <= BADGE_CAP else f"{BADGE_CAP}+")
