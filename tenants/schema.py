"""What the OpenAPI schema says about the API as a whole: the token scheme, and the error
answers every endpoint can give, in the shape ``config.api_errors`` produces.

Views declare their errors with :func:`error_responses`, naming only the statuses they can
answer, so the schema stays truthful per operation (tests/test_api_schema.py)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers


class IntegrationTokenScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.IntegrationTokenAuthentication"
    name = "IntegrationToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A tenant's integration token (shown once at creation).",
        }


class Error(serializers.Serializer):
    """Every error but bad input: one message for people, in the caller's language."""

    detail = serializers.CharField()


class ValidationErrorOut(serializers.Serializer):
    """Bad input (400): the messages of each field by its name; nested objects nest (an
    item of a list by its index); ``detail`` for a problem with the request as a whole
    (bad JSON, wrong content type); ``non_field_errors`` when the body is not an object.
    Its schema is written by :class:`ValidationErrorScheme`."""

    description = (
        "Bad input: the messages of each field by its name; nested objects nest (an item of "
        "a list by its index); detail for a problem with the request as a whole (bad JSON, "
        "wrong content type); non_field_errors when the body is not an object."
    )


_MESSAGES = {"type": "array", "items": {"type": "string"}}


class ValidationErrorScheme(OpenApiSerializerExtension):
    target_class = ValidationErrorOut

    def get_name(self, auto_schema: Any = None, direction: Any = None) -> str:
        return "ValidationError"

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return {
            "type": "object",
            "description": ValidationErrorOut.description,
            "properties": {
                "detail": {"anyOf": [{"type": "string"}, _MESSAGES]},
                "non_field_errors": _MESSAGES,
            },
            # A field's messages, or the errors of a nested object or list by key/index.
            "additionalProperties": {"anyOf": [_MESSAGES, {"type": "object"}]},
        }


RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    OpenApiParameter.HEADER,
    description="Seconds to wait before trying again.",
    response=[429, 503],
)
WWW_AUTHENTICATE = OpenApiParameter(
    "WWW-Authenticate",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description='The scheme to use: Bearer realm="api".',
    response=[401],
)
# Response headers of the errors, for extend_schema(parameters=...).
ERROR_HEADERS = [RETRY_AFTER, WWW_AUTHENTICATE]

_ERRORS: dict[int, OpenApiResponse] = {
    400: OpenApiResponse(ValidationErrorOut, "Bad input; the messages name each field."),
    401: OpenApiResponse(Error, "No credential, or an invalid or revoked token."),
    403: OpenApiResponse(Error, "The caller may not do this."),
    404: OpenApiResponse(Error, "Not found, or not the caller's to see."),
    409: OpenApiResponse(Error, "The object's state does not allow this now."),
    410: OpenApiResponse(Error, "The customer's personal data has been erased."),
    413: OpenApiResponse(Error, "The request body is too large."),
    429: OpenApiResponse(Error, "Too many requests; wait Retry-After seconds."),
    500: OpenApiResponse(Error, "The stored data could not be opened; the failure was recorded."),
    503: OpenApiResponse(Error, "A service Baomi needs is unavailable; try again shortly."),
}
# Every authenticated endpoint can answer these, whatever it does.
ALWAYS = (401, 403, 429, 503)


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """The error answers of an endpoint: those of every endpoint plus ``codes``."""
    return {code: _ERRORS[code] for code in sorted({*ALWAYS, *codes})}


def only_the_api(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list[tuple[Any, ...]]:
    """SPECTACULAR_SETTINGS PREPROCESSING_HOOKS: the schema describes the versioned API
    only, not the pages that serve the schema and its documentation."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/v1/")]
