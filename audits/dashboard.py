"""The supervisor dashboard (issue 20, point 1) at ``/supervisor/`` (``audits:dashboard``),
in the back office's frame: the admin site's login, second factor and sidebar
(``admin.site.admin_view``), unfold's layout.

For the tenant's supervisors (``audits.panels.SUPERVISORS``); anyone else of any tenant
gets a 404 (the page does not exist for them, as another tenant's object does not). It
renders, in order, the panels ``panels_for(user)`` returns — each app registers its own
from its ``AppConfig.ready()``, audits imports none of them — with the period chosen in
the picker (``audits.periods``). A panel that raises, in its context or its template, is
logged and shown as a small "could not be shown" box; the others render. Every view is
audited (``dashboard.viewed``: the period's dates and the panels' keys, never a figure
shown). Nothing here or in a panel shows a customer's personal data."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlencode

from django.contrib import admin
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from audits.compliance import Status, evaluate
from audits.links import followable
from audits.panels import Panel, Period, may_supervise, panels_for
from audits.periods import PeriodForm, Preset
from audits.services import record_event
from audits.shared_reads import shared_reads
from tenants.models import Tenant, User

logger = logging.getLogger(__name__)


def may_view_dashboard(user: object, tenant: Tenant | None) -> bool:
    return tenant is not None and may_supervise(user, tenant)


@dataclass(frozen=True)
class RenderedPanel:
    key: str
    title: str
    html: SafeString | None  # None: the panel failed


def render_panel(
    request: HttpRequest, tenant: Tenant, period: Period, panel: Panel
) -> RenderedPanel:
    """``panel`` rendered to HTML, or ``html=None`` when its context or template raised
    (logged with its key; the exception's message is not shown to the reader)."""
    try:
        context = panel.context_for(request, tenant, period)
        html = render_to_string(panel.template, context, request=request)
    except Exception:  # one broken panel must not hide the others
        logger.exception("dashboard panel %s failed (tenant %s)", panel.key, tenant.pk)
        return RenderedPanel(panel.key, str(panel.title), None)
    return RenderedPanel(panel.key, str(panel.title), SafeString(html))


def _presets(selected: str) -> list[dict[str, Any]]:
    return [
        {
            "value": value,
            "label": label,
            "url": "?" + urlencode({"period": value}),
            "current": value == selected,
        }
        for value, label in Preset.choices
        if value != Preset.CUSTOM
    ]


def dashboard_page(request: HttpRequest) -> HttpResponse:
    tenant = getattr(request, "tenant", None)
    user = request.user
    if not may_view_dashboard(user, tenant):
        raise Http404
    assert tenant is not None  # noqa: S101 - may_view_dashboard checked it
    form = PeriodForm(request.GET, tenant=tenant)  # nothing given: the default preset
    if not form.is_valid():
        return _page(request, form, status=400)
    first, last = form.days()
    period = form.period_chosen()
    with shared_reads():  # panels and indicators asking the same read share one answer
        rendered = [render_panel(request, tenant, period, panel) for panel in panels_for(user)]
    with transaction.atomic():
        record_event(
            tenant=tenant,
            actor=cast(User, user),
            action="dashboard.viewed",
            details={
                "preset": str(form.cleaned_data["period"]),
                "since": first.isoformat(),
                "until": last.isoformat(),
                "panels": [p.key for p in rendered if p.html is not None],
                "failed": [p.key for p in rendered if p.html is None],
            },
        )
    return _page(
        request,
        form,
        panels=rendered,
        period=period,
        first=first,
        last=last,
        status=200,
    )


def _page(request: HttpRequest, form: PeriodForm, *, status: int, **extra: Any) -> HttpResponse:
    selected = str(form.cleaned_data.get("period", ""))
    custom = selected == Preset.CUSTOM or bool(form.errors)
    context = {
        **admin.site.each_context(request),
        "title": _("Supervisor dashboard"),
        "form": form,
        "presets": _presets("" if custom else selected),
        "custom": custom,
        "dashboard_url": reverse("audits:dashboard"),
        **extra,
    }
    response = TemplateResponse(request, "audits/dashboard.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return response


dashboard_view = admin.site.admin_view(dashboard_page)


# --- the compliance summary: audits' own panel ---------------------------------------------

STATUS_BADGE = {
    Status.OK: "success",
    Status.ATTENTION: "warning",
    Status.FAILING: "danger",
    Status.UNKNOWN: "info",
}


def compliance_panel(request: HttpRequest, tenant: Tenant, period: Period) -> dict[str, Any]:
    """Each registered policy clause with its status from the data (``audits.compliance``)
    over ``period``, its summary sentence linking to the evidence."""
    rows = [
        {
            "clause": item.spec.clause,
            "title": item.spec.title,
            "status": item.indicator.status,
            "status_label": Status(item.indicator.status).label,
            "variant": STATUS_BADGE.get(item.indicator.status, "info"),
            "summary": item.indicator.summary,
            "link": followable(request, item.indicator.link),
        }
        for item in evaluate(tenant, period)
    ]
    counts = {status: sum(1 for r in rows if r["status"] == status) for status in Status}
    return {
        "rows": rows,
        "failing": counts[Status.FAILING],
        "attention": counts[Status.ATTENTION],
        "met": counts[Status.OK],
    }
