"""One place that turns errors into API responses: 400, 403, 404, 409, 410 — never a bare 500
for anything a caller can send. Messages name the field or the problem."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from privacy.errors import DecryptionIntegrityError, KeyRetiredError, SubjectErasedError
from tenants.errors import Conflict

logger = logging.getLogger(__name__)


def _validation_payload(error: ValidationError) -> Any:
    if hasattr(error, "error_dict"):
        return error.message_dict
    return {"detail": error.messages}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
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
