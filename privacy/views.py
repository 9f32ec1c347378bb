"""The public erasure pages (no login). Nothing personal goes into the URL, the session or a
log: the session holds only the challenge's random id."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache

from audits.context import current_request_context
from core.errors import Conflict
from privacy.ledger_file import LedgerWriteError
from privacy.online_erasure import RateLimited, start_request, verify_request
from tenants.counters import RETRY_AFTER_SECONDS, CountersUnavailable

SESSION_KEY = "baomi_erasure_challenge"
UNAVAILABLE = _(
    "Your request could not be completed right now, and nothing was erased. Please start "
    "again in a few minutes."
)


@never_cache
def erasure_start(request: HttpRequest) -> HttpResponse:
    context: dict[str, object] = {"errors": {}, "values": {}}
    if request.method == "POST":
        context["values"] = {"order_code": request.POST.get("order_code", "")[:20]}
        try:
            challenge = start_request(
                order_code=request.POST.get("order_code"),
                phone=request.POST.get("phone"),
                ip=current_request_context().ip,
            )
        except ValidationError as error:
            context["errors"] = {
                field: messages[0] for field, messages in error.message_dict.items()
            }
            return TemplateResponse(request, "privacy/erasure_start.html", context, status=400)
        except RateLimited:
            context["rate_limited"] = True
            return TemplateResponse(request, "privacy/erasure_start.html", context, status=429)
        except CountersUnavailable:
            # The rate limits cannot be checked (Redis is down): nothing is sent or stored.
            context["unavailable"] = True
            response = TemplateResponse(request, "privacy/erasure_start.html", context, status=503)
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        request.session[SESSION_KEY] = str(challenge.id)
        return redirect("privacy:erasure-verify")
    return TemplateResponse(request, "privacy/erasure_start.html", context)


@never_cache
def erasure_verify(request: HttpRequest) -> HttpResponse:
    challenge_id = request.session.get(SESSION_KEY)
    if not challenge_id:
        return redirect("privacy:erasure")
    if request.method == "POST":
        try:
            reference = verify_request(challenge_id=challenge_id, code=request.POST.get("code"))
        except ValidationError as error:
            return TemplateResponse(
                request,
                "privacy/erasure_verify.html",
                {"error": error.message_dict["code"][0]},
                status=400,
            )
        except Conflict as error:
            request.session.pop(SESSION_KEY, None)
            return TemplateResponse(
                request, "privacy/erasure_verify.html", {"error": error.message}, status=409
            )
        except LedgerWriteError:
            # Nothing was erased (the ledger is written first); the failure is audited.
            request.session.pop(SESSION_KEY, None)
            return TemplateResponse(
                request,
                "privacy/erasure_verify.html",
                {"error": UNAVAILABLE},
                status=503,
            )
        request.session.pop(SESSION_KEY, None)
        return TemplateResponse(request, "privacy/erasure_done.html", {"reference": reference})
    return TemplateResponse(request, "privacy/erasure_verify.html", {})
