"""Response headers every page and API answer carries: the Content-Security-Policy (with a
nonce on every response) and ``Cache-Control: no-store``.

Nearly every dynamic response here can show personal data to someone (the back office, the
kitchen and packing pages, the rider pages, the public erasure pages, every API answer), so
no response that passes through Django is cached by a browser or a proxy; static files are
served outside the middleware and stay cacheable.
"""

from __future__ import annotations

from csp.middleware import CSPMiddleware
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.cache import add_never_cache_headers
from django.utils.deprecation import MiddlewareMixin


class NoncedCSPMiddleware(CSPMiddleware):
    """django-csp's middleware, with the nonce made on every request.

    django-csp adds ``'nonce-…'`` to the header only when a template read
    ``request.csp_nonce``. The pages here load their scripts and styles from static files
    and need no nonce, but a nonce in ``script-src`` and ``style-src`` on every response
    keeps one policy for all pages (a template may use ``{{ request.csp_nonce }}`` at any
    time) and makes browsers ignore any ``'unsafe-inline'`` a later change might add.
    """

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        str(request.csp_nonce)  # type: ignore[attr-defined]


class NoStoreMiddleware(MiddlewareMixin):
    """``Cache-Control: no-store`` on every response: Django's never-cache set, unless the
    view already said ``no-store`` itself, or marked the response ``cacheable_content``
    (content that holds no personal data and never changes behind its URL: a lesson
    image, served with its own private cache header)."""

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if getattr(response, "cacheable_content", False):
            return response
        if "no-store" not in response.get("Cache-Control", ""):
            add_never_cache_headers(response)
        return response
