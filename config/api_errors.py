"""One place that turns errors into API responses: 400, 403, 404, 409, 410, 413, 503 — never a
bare 500 for anything a caller can send. Messages name the field or the problem.

Everything under ``/api/`` answers JSON: DRF's views through ``exception_handler``; errors
raised outside them (a database or Redis outage in a middleware, an oversized body, an
unknown or malformed URL) through the error handlers below (config/urls.py) and
``ApiJsonErrorsMiddleware``. An unreachable database or Redis is a 503 with Retry-After, on
the API and on the pages ("try again shortly"), never an HTML 500."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import redis
from django.core.exceptions import (
    ObjectDoesNotExist,
    PermissionDenied,
    RequestDataTooBig,
    ValidationError,
)
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views import defaults
from rest_framework import status
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import Conflict
from privacy.errors import DecryptionIntegrityError, KeyRetiredError, SubjectErasedError
from tenants.counters import RETRY_AFTER_SECONDS, CountersUnavailable
from tenants.throttling import UNAVAILABLE

logger = logging.getLogger(__name__)


def _validation_payload(error: ValidationError) -> Any:
    if hasattr(error, "error_dict"):
        return error.message_dict
    return {"detail": error.messages}


# A store that cannot be reached: the database (connection refused, dropped, timed out) or
# Redis (the cache, the throttles' counters). The caller may simply try again.
OUTAGES: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    redis.RedisError,
    CountersUnavailable,
)


def _unavailable(exc: BaseException) -> None:
    # One line, the exception's type only: its message can hold a host name or a query.
    logger.warning("service unavailable: %s", type(exc).__name__)


def _too_large() -> str:
    return _("The request body is too large.")


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, OUTAGES):
        _unavailable(exc)
        return Response(
            {"detail": str(UNAVAILABLE)},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": _too_large()}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, UnsupportedMediaType):
        return Response(
            {"detail": _("Send a JSON body (Content-Type: application/json).")},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, ValidationError):
        return Response(_validation_payload(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Conflict):
        return Response({"detail": exc.message, **exc.extra}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, ObjectDoesNotExist):
        return Response({"detail": _("Not found.")}, status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, PermissionDenied) and str(exc):
        return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, SubjectErasedError):
        return Response(
            {"detail": _("This customer's personal data has been erased.")},
            status=status.HTTP_410_GONE,
        )
    if isinstance(exc, DecryptionIntegrityError | KeyRetiredError):
        # Not caused by the caller: recorded in the audit log by the vault; say so plainly.
        logger.error("vault error in %s: %s", context.get("view"), type(exc).__name__)
        return Response(
            {"detail": _("The stored data could not be opened; the failure was recorded.")},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    return drf_exception_handler(exc, context)


# --- Outside DRF's views: Django's error handlers (config/urls.py) and a middleware ---------


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def _json(detail: str, status_code: int, **headers: str) -> JsonResponse:
    response = JsonResponse(
        {"detail": detail}, status=status_code, json_dumps_params={"ensure_ascii": False}
    )
    for name, value in headers.items():
        response[name] = value
    return response


def _status_detail(status_code: int, reason: str = "") -> str:
    details: dict[int, Callable[[], str]] = {
        400: lambda: _("Bad request."),
        403: lambda: _("You do not have permission to perform this action."),
        404: lambda: _("Not found."),
        405: lambda: _("Method not allowed."),
        413: _too_large,
        503: lambda: str(UNAVAILABLE),
    }
    if status_code in details:
        return details[status_code]()
    if status_code < 500 and reason:
        return reason  # the status's standard phrase ("Unauthorized", "Gone")
    return _("Server error.")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return _json(_too_large(), 413)
    return _json(_status_detail(400), 400)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api(request):
        return defaults.permission_denied(request, exception)
    return _json(_status_detail(403), 403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Unknown paths and malformed ids (``/api/v1/orders/not-a-uuid/``) alike."""
    if not is_api(request):
        return defaults.page_not_found(request, exception)
    return _json(_status_detail(404), 404)


def server_error(request: HttpRequest) -> HttpResponse:
    """Django calls this inside the ``except`` of an uncaught exception: an outage is a 503
    (JSON on the API, the "try again shortly" page elsewhere), anything else a 500."""
    exc = sys.exc_info()[1]
    if exc is not None and isinstance(exc, OUTAGES):
        _unavailable(exc)
        if is_api(request):
            return _json(str(UNAVAILABLE), 503, **{"Retry-After": str(RETRY_AFTER_SECONDS)})
        response = render(request, "503.html", status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    if is_api(request):
        return _json(_status_detail(500), 500)
    return defaults.server_error(request)


class ApiJsonErrorsMiddleware:
    """Under ``/api/``, an error answered in HTML or text by anything else (a middleware's
    ``HttpResponseBadRequest``, the CSRF failure page, Django's debug pages) is answered as
    ``{"detail": ...}`` JSON with the same status and headers."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            not is_api(request)
            or response.status_code < 400
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        replacement = _json(
            _status_detail(response.status_code, response.reason_phrase), response.status_code
        )
        for name, value in response.items():
            if name.lower() not in ("content-type", "content-length"):
                replacement[name] = value
        return replacement
