"""The public privacy-report pages (no login). Nothing personal goes into the URL, the
session or a log: the session holds only a challenge's random id, and the tracking code
for the one page that shows it (then it is dropped)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from audits.context import current_request_context
from core.errors import Conflict
from core.one_time import stash, take
from incidents.models import DESCRIPTION_MAX_LENGTH, ReportKind
from incidents.reports import (
    RateLimited,
    file_report,
    public_tenant,
    report_deadline,
    report_for,
    start_filing,
    start_status,
    verify_status,
)
from tenants.counters import RETRY_AFTER_SECONDS, CountersUnavailable

FILE_KEY = "baomi_report_challenge"
TRACKING_KEY = "report_tracking"
STATUS_KEY = "baomi_report_status_challenge"
SHOWN_KEY = "baomi_report_status_shown"
BRAND_KEY = "baomi_report_brand"  # the slug of the tenant whose page the customer came from


def _start(
    request: HttpRequest,
    template: str,
    field: str,
    start: Any,
    next_url: str,
    key: str,
    extra: dict[str, Any] | None = None,
    brand: str | None = None,
) -> HttpResponse:
    """The first step's page; nothing is written to the session until a POST starts a
    challenge (then the challenge's id, and the slug of the tenant's page, if any)."""
    context: dict[str, Any] = {"errors": {}, "values": {}, **(extra or {})}
    if request.method != "POST":
        return TemplateResponse(request, template, context)
    context["values"] = {field: request.POST.get(field, "")[:20]}
    try:
        challenge = start(request.POST.get(field), ip=current_request_context().ip)
    except ValidationError as error:
        context["errors"] = {name: messages[0] for name, messages in error.message_dict.items()}
        return TemplateResponse(request, template, context, status=400)
    except RateLimited:
        context["rate_limited"] = True
        return TemplateResponse(request, template, context, status=429)
    except CountersUnavailable:
        context["unavailable"] = True
        response = TemplateResponse(request, template, context, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    request.session[key] = str(challenge.id)
    if key == FILE_KEY:
        if brand:
            request.session[BRAND_KEY] = brand
        else:
            request.session.pop(BRAND_KEY, None)
    return redirect(next_url)


@never_cache
def report_start(request: HttpRequest) -> HttpResponse:
    return _start(
        request,
        "incidents/report_start.html",
        "order_code",
        lambda value, ip: start_filing(order_code=value, ip=ip),
        "incidents:report-verify",
        FILE_KEY,
        {"days": report_deadline().days},
    )


@never_cache
def report_start_for(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    """A tenant's own report page: its name on the page, its deadline, its orders only.
    The answer is the same whether or not the order code exists (matching is the task's)."""
    tenant = public_tenant(tenant_slug)
    if tenant is None:
        raise Http404(_("No such page."))
    return _start(
        request,
        "incidents/report_start.html",
        "order_code",
        lambda value, ip: start_filing(order_code=value, ip=ip, brand=tenant),
        "incidents:report-verify",
        FILE_KEY,
        {"brand": tenant.name, "days": report_deadline(tenant).days},
        brand=tenant.slug,
    )


def _brand(request: HttpRequest) -> str | None:
    tenant = public_tenant(request.session.get(BRAND_KEY))
    return tenant.name if tenant is not None else None


@never_cache
def report_verify(request: HttpRequest) -> HttpResponse:
    challenge_id = request.session.get(FILE_KEY)
    if not challenge_id:
        return redirect("incidents:report")
    template = "incidents/report_verify.html"
    context: dict[str, Any] = {
        "brand": _brand(request),
        "brand_slug": request.session.get(BRAND_KEY) if _brand(request) else None,
        "kinds": ReportKind.choices,
        "limit": DESCRIPTION_MAX_LENGTH,
        "errors": {},
        "values": {},
    }
    if request.method != "POST":
        return TemplateResponse(request, template, context)
    context["values"] = {
        "kind": request.POST.get("kind", ""),
        "description": request.POST.get("description", "")[: DESCRIPTION_MAX_LENGTH + 1],
    }
    try:
        tracking = file_report(
            challenge_id=challenge_id,
            code=request.POST.get("code"),
            kind=request.POST.get("kind"),
            description=request.POST.get("description", ""),
        )
    except ValidationError as error:
        context["errors"] = {name: messages[0] for name, messages in error.message_dict.items()}
        return TemplateResponse(request, template, context, status=400)
    except Conflict as error:
        request.session.pop(FILE_KEY, None)
        context["errors"] = {"code": error.message}
        context["expired"] = True
        return TemplateResponse(request, template, context, status=409)
    request.session.pop(FILE_KEY, None)
    # Passing the one-time code is a login of sorts: a new session key. The tracking code
    # travels to the next page in a sealed one-time cookie bound to that key (core.one_time),
    # never stored in the session table.
    request.session.cycle_key()
    response = redirect("incidents:report-done")
    stash(
        response,
        user=None,
        purpose=TRACKING_KEY,
        object_id=request.session.session_key,
        value=tracking,
        path=reverse("incidents:report-done"),
    )
    return response


@never_cache
def report_done(request: HttpRequest) -> HttpResponse:
    """The tracking code, shown once: a reload no longer shows it."""
    response = TemplateResponse(request, "incidents/report_done.html", {})
    response.context_data["tracking"] = take(  # type: ignore[index]
        request,
        response,
        user=None,
        purpose=TRACKING_KEY,
        object_id=request.session.session_key,
        path=reverse("incidents:report-done"),
    )
    return response


@never_cache
def status_start(request: HttpRequest) -> HttpResponse:
    return _start(
        request,
        "incidents/status_start.html",
        "tracking_code",
        lambda value, ip: start_status(tracking_code=value, ip=ip),
        "incidents:status-verify",
        STATUS_KEY,
    )


@never_cache
def status_verify(request: HttpRequest) -> HttpResponse:
    challenge_id = request.session.get(STATUS_KEY)
    if not challenge_id:
        return redirect("incidents:status")
    template = "incidents/status_verify.html"
    if request.method != "POST":
        return TemplateResponse(request, template, {})
    try:
        challenge = verify_status(challenge_id=challenge_id, code=request.POST.get("code"))
    except ValidationError as error:
        return TemplateResponse(
            request, template, {"error": error.message_dict["code"][0]}, status=400
        )
    except Conflict as error:
        request.session.pop(STATUS_KEY, None)
        return TemplateResponse(
            request, template, {"error": error.message, "expired": True}, status=409
        )
    request.session.pop(STATUS_KEY, None)
    request.session.cycle_key()  # the one-time code passed: a new session key
    request.session[SHOWN_KEY] = str(challenge.id)
    return redirect("incidents:status-show")


@never_cache
def status_show(request: HttpRequest) -> HttpResponse:
    challenge_id = request.session.get(SHOWN_KEY)
    report = report_for(challenge_id) if challenge_id else None
    if report is None:
        request.session.pop(SHOWN_KEY, None)
        return redirect("incidents:status")
    return TemplateResponse(
        request,
        "incidents/status_show.html",
        {"report": report, "days": report.days},
    )
