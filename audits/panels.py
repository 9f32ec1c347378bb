"""The supervisor dashboard's panel registry (issue 20): the seam through which later apps
contribute what the dashboard shows, without ``audits`` importing them.

Each app registers its panels in its ``AppConfig.ready()``::

    from audits.panels import register_panel

    register_panel(
        "training.coverage",
        title=_("Training coverage"),          # lazy: translated when shown
        roles=(Role.SUPERVISOR, Role.PRIVACY_OFFICER, Role.TENANT_ADMIN),
        order=50,
        template="training/panels/coverage.html",
        context=coverage_panel,               # (request, tenant, period) -> dict
    )

The dashboard asks ``panels_for(user)`` — the panels one of whose roles the user holds, in
``order`` — and renders each ``panel.template`` with ``panel.context_for(request, tenant,
period)`` (run inside the request's tenant scope). A panel's context must hold no customer's
personal data: numbers, codes, usernames and links to the lists behind the numbers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import Promise

from audits.registry import KeyedRegistry
from tenants.models import Role, Tenant, User
from tenants.roles import has_role, roles_of

#: Who supervises a tenant: sees the dashboard, the alerts, inspections and violations.
SUPERVISORS: tuple[Role, ...] = (Role.SUPERVISOR, Role.PRIVACY_OFFICER, Role.TENANT_ADMIN)


def may_supervise(user: object, tenant: Tenant | int | None = None) -> bool:
    """Whether ``user`` is an active supervisor, privacy officer or tenant administrator —
    of ``tenant`` (a ``Tenant`` or its id) when given, of their own tenant otherwise. The one
    test the dashboard, alerts, inspections, violations and evidence packs ask."""
    tenant_id = tenant.pk if isinstance(tenant, Tenant) else tenant
    return (
        isinstance(user, User)
        and user.is_active
        and user.tenant_id is not None
        and (tenant_id is None or user.tenant_id == tenant_id)
        and has_role(user, *SUPERVISORS)
    )


@dataclass(frozen=True)
class Period:
    """The dashboard's period picker's choice: ``start`` included, ``end`` excluded, both
    aware datetimes at midnight of the tenant's local days (the picker offers whole days)."""

    start: datetime
    end: datetime

    @property
    def first_day(self) -> date:
        """The period's first local day."""
        return timezone.localtime(self.start).date()

    @property
    def last_day(self) -> date:
        """The period's last local day (``end`` is the midnight after it)."""
        return timezone.localtime(self.end - timedelta(microseconds=1)).date()

    def query(self) -> str:
        """The query string that filters a back-office list to this period: ``since`` and
        ``until`` are local dates, both included (``?since=2026-11-01&until=2026-11-30``).
        The audit log's list and the other lists numbers link to read these two names."""
        return urlencode({"since": self.first_day.isoformat(), "until": self.last_day.isoformat()})


PanelContext = Callable[[HttpRequest, Tenant, Period], Mapping[str, Any]]


@dataclass(frozen=True)
class Panel:
    key: str  # "<app>.<name>", unique
    title: str | Promise
    roles: frozenset[str]
    order: int
    template: str
    context: PanelContext

    def context_for(self, request: HttpRequest, tenant: Tenant, period: Period) -> dict[str, Any]:
        """The panel's template context, with ``panel`` (this panel) added."""
        return {**self.context(request, tenant, period), "panel": self}


_panels: KeyedRegistry[Panel] = KeyedRegistry("Panel")


def register_panel(
    key: str,
    *,
    title: str | Promise,
    roles: Iterable[Role | str],
    order: int,
    template: str,
    context: PanelContext,
) -> Panel:
    """Register (or register again, identically) the panel ``key``. A second, different
    registration under the same key is a programming error (``ValueError``)."""
    wanted = frozenset(Role(role).value for role in roles)
    if not wanted:
        raise ValueError(f"Panel {key!r} names no role that sees it.")
    return _panels.add(key, Panel(key, title, wanted, order, template, context))


def unregister_panel(key: str) -> None:
    """Forget a panel (tests)."""
    _panels.remove(key)


def all_panels() -> list[Panel]:
    return sorted(_panels.values(), key=lambda panel: (panel.order, panel.key))


def panels_for(user: object) -> list[Panel]:
    """The panels ``user`` sees — those one of whose roles the user holds in their tenant —
    in their order (then by key). An operator or an anonymous user sees none."""
    roles = roles_of(user)
    return [panel for panel in all_panels() if panel.roles & roles]
