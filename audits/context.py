"""Who is asking, from where: the request context that audit events record.

Set by ``RequestContextMiddleware`` for web requests; tasks and commands leave it empty
(their actor says what they are).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, HttpResponse


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    ip: str | None = None


_EMPTY = RequestContext()
_current: ContextVar[RequestContext | None] = ContextVar("baomi_request_context", default=None)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def current_request_context() -> RequestContext:
    return _current.get() or _EMPTY


@contextmanager
def request_context(context: RequestContext) -> Iterator[None]:
    token = _current.set(context)
    try:
        yield
    finally:
        _current.reset(token)


def _client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR is the peer. Only behind the deployment's reverse proxy (BEHIND_TLS_PROXY),
    # which overwrites X-Real-IP and is the only way in, is that header the client's address.
    if settings.BEHIND_TLS_PROXY and request.META.get("HTTP_X_REAL_IP"):
        return str(request.META["HTTP_X_REAL_IP"])
    return request.META.get("REMOTE_ADDR") or None


def client_ip(request: HttpRequest) -> str | None:
    """The client's address as audit events record it (django-axes counts failures by it)."""
    return _client_ip(request)


class RequestContextMiddleware:
    """Gives every request an id (the caller's ``X-Request-ID`` if well-formed, else a new
    UUID), returns it in the response, and records it with the client IP for audit events."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.headers.get("X-Request-ID", "")
        request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        with request_context(RequestContext(request_id=request_id, ip=_client_ip(request))):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response
