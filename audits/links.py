"""A dashboard link only for a reader who may follow it (issue 20).

Every number on the dashboard links to the list behind it, but not every supervisor may
open every list (a tenant administrator does not read the audit log, the erasure requests
or customers' reports). ``followable(request, url)`` gives ``url`` back when the back
office's list it points to lets the reader in (the ModelAdmin's own
``has_view_permission``), and "" otherwise, so the panel shows the figure without a link
that would answer 403. URLs outside the admin (the training coverage) are left as they
are: their views check their own readers, who are the dashboard's."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.http import HttpRequest
from django.urls import Resolver404, resolve


def followable(request: HttpRequest, url: str) -> str:
    """``url`` if ``request.user`` may open it, else ""."""
    if not url:
        return ""
    try:
        match = resolve(urlsplit(url).path)
    except Resolver404:
        return ""
    model_admin = getattr(match.func, "model_admin", None)
    if model_admin is None:
        return url
    return url if model_admin.has_view_permission(request) else ""
