"""The dashboard's compliance summary (issue 20, point 1): one indicator per policy clause,
its status computed from the data, linking to the evidence behind it.

Each app registers the indicators of the clauses it implements from its
``AppConfig.ready()`` (``audits`` never imports a later app)::

    from audits.compliance import Indicator, Status, register_indicator

    def overdue_erasures(tenant, period):
        n = ...  # an indexed count
        return Indicator(
            Status.OK if n == 0 else Status.FAILING,
            ngettext("%(n)d overdue erasure", "%(n)d overdue erasures", n) % {"n": n},
            reverse("admin:privacy_erasurerequest_changelist") + "?due=overdue",
        )

    register_indicator(
        "privacy.erasure_on_time", clause="2.4.1", title=_("Erasure on time"),
        order=241, compute=overdue_erasures,
    )

``compute(tenant, period)`` runs inside the tenant's scope and returns an ``Indicator``:
a status, a short sentence with the figure ("0 overdue erasures") and the link to the
readable list it counts. It holds no customer's personal data. An indicator that raises is
shown as ``Status.UNKNOWN`` (logged), never breaking the dashboard.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from audits.clauses import clause_sort_key
from audits.panels import Period
from audits.registry import KeyedRegistry
from tenants.models import Tenant

logger = logging.getLogger(__name__)


class Status(models.TextChoices):
    OK = "ok", _("Met")
    ATTENTION = "attention", _("Needs attention")
    FAILING = "failing", _("Not met")
    UNKNOWN = "unknown", _("Unknown")


@dataclass(frozen=True)
class Indicator:
    status: Status
    summary: str | Promise  # "0 overdue erasures": the figure, no personal data
    link: str = ""  # the readable, filtered list behind the figure


@dataclass(frozen=True)
class IndicatorSpec:
    key: str  # "<app>.<name>", unique
    clause: str  # the policy's clause number without "§", e.g. "2.4.1"
    title: str | Promise
    order: int
    compute: Callable[[Tenant, Period], Indicator]


@dataclass(frozen=True)
class Evaluated:
    spec: IndicatorSpec
    indicator: Indicator


_indicators: KeyedRegistry[IndicatorSpec] = KeyedRegistry("Indicator")


def register_indicator(
    key: str,
    *,
    clause: str,
    title: str | Promise,
    order: int,
    compute: Callable[[Tenant, Period], Indicator],
) -> IndicatorSpec:
    """Register (or register again, identically) the indicator ``key``; a different second
    registration under the same key is a programming error (``ValueError``)."""
    if not clause or clause.startswith("§"):
        raise ValueError(f"Indicator {key!r}: give the clause as '2.4.1', without '§'.")
    return _indicators.add(key, IndicatorSpec(key, clause, title, order, compute))


def unregister_indicator(key: str) -> None:
    """Forget an indicator (tests)."""
    _indicators.remove(key)


def all_indicators() -> list[IndicatorSpec]:
    """Every registered indicator, by clause then order."""
    return sorted(_indicators.values(), key=lambda s: (clause_sort_key(s.clause), s.order, s.key))


def evaluate(tenant: Tenant, period: Period) -> list[Evaluated]:
    """Each indicator computed for ``tenant`` over ``period`` (inside its scope)."""
    results = []
    for spec in all_indicators():
        try:
            indicator = spec.compute(tenant, period)
        except Exception:  # one broken indicator must not hide the others
            logger.exception("compliance indicator %s failed (tenant %s)", spec.key, tenant.pk)
            indicator = Indicator(Status.UNKNOWN, _("Could not be computed."))
        results.append(Evaluated(spec, indicator))
    return results
