"""What training contributes to the supervisor dashboard's compliance summary (issue 20):
§7.1.2, every staff member has signed the current confidentiality pledge, and §7.2, the
regular training is current for everyone (``training.coverage.coverage_of``: a constant
number of queries per requirement, whatever the number of people). The coverage panel
itself is ``training.coverage_views.coverage_panel``. Registered from
``TrainingConfig.ready()`` (audits imports nothing of training)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import get_language, gettext_lazy, ngettext

from audits.compliance import Indicator, Status
from audits.panels import Period
from audits.shared_reads import shared
from tenants.models import Tenant
from training.coverage import PLEDGE_KEY, Coverage, TenantCoverage, coverage_of

#: Pledge states that count as signed (a new version's grace period is "due soon").
SIGNED = (Coverage.CURRENT, Coverage.DUE_SOON)


def _link(**params: str) -> str:
    return reverse("training:coverage") + "?" + urlencode(params)


def tenant_coverage(tenant: Tenant) -> TenantCoverage:
    """The tenant's coverage, read once per dashboard page (audits.shared_reads)."""
    language = get_language() or "zh-hans"
    return shared(
        ("training.coverage", tenant.pk, language), lambda: coverage_of(tenant, language=language)
    )


def pledges_indicator(tenant: Tenant, period: Period) -> Indicator:
    coverage = tenant_coverage(tenant)
    if not any(r.key == PLEDGE_KEY for r in coverage.requirements):
        return Indicator(
            Status.FAILING, gettext_lazy("No staff pledge is published"), _link(course=PLEDGE_KEY)
        )
    cells = [p.cells[PLEDGE_KEY] for p in coverage.people if PLEDGE_KEY in p.cells]
    unsigned = [c for c in cells if c.state not in SIGNED]
    summary = ngettext(
        "%(n)d of %(total)d staff member has not signed the current pledge",
        "%(n)d of %(total)d staff members have not signed the current pledge",
        len(cells),
    ) % {"n": len(unsigned), "total": len(cells)}
    worst = max((c.state for c in unsigned), default=None, key=lambda s: list(Coverage).index(s))
    link = _link(course=PLEDGE_KEY, state=worst.value) if worst else _link(course=PLEDGE_KEY)
    return Indicator(Status.FAILING if unsigned else Status.OK, summary, link)


def training_indicator(tenant: Tenant, period: Period) -> Indicator:
    coverage = tenant_coverage(tenant)
    courses = {r.key for r in coverage.requirements if r.key != PLEDGE_KEY}
    states = [p.worst(courses) for p in coverage.people]
    overdue = sum(1 for s in states if s in (Coverage.OVERDUE, Coverage.FAILED))
    missing = sum(1 for s in states if s == Coverage.MISSING)
    if overdue:
        return Indicator(
            Status.FAILING,
            ngettext("%(n)d person overdue or failed", "%(n)d people overdue or failed", overdue)
            % {"n": overdue},
            _link(state=Coverage.OVERDUE.value),
        )
    if missing:
        return Indicator(
            Status.ATTENTION,
            ngettext(
                "%(n)d person has not taken a required course",
                "%(n)d people have not taken a required course",
                missing,
            )
            % {"n": missing},
            _link(state=Coverage.MISSING.value),
        )
    return Indicator(Status.OK, gettext_lazy("Everyone's required training is current"), _link())


def register() -> None:
    """From ``TrainingConfig.ready()``."""
    from audits.compliance import register_indicator

    register_indicator(
        "training.pledges",
        clause="7.1.2",
        title=gettext_lazy("Staff sign the confidentiality pledge"),
        order=712,
        compute=pledges_indicator,
    )
    register_indicator(
        "training.coverage",
        clause="7.2",
        title=gettext_lazy("Regular training is current"),
        order=720,
        compute=training_indicator,
    )
