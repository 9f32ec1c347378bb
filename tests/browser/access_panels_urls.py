"""A test-only page that shows the access statistics panels in the back office's frame,
for the browser test and its screenshots until the supervisor dashboard's page renders
them (issue 20): the project's URLs plus ``/test-access-panels/``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.template.loader import render_to_string
from django.urls import path
from django.utils import timezone
from django.utils.safestring import mark_safe

from audits.panels import Period, panels_for
from config.urls import urlpatterns as project_urls

PAGE = (
    "{% extends 'admin/base_site.html' %}{% block content %}"
    '<div class="baomi-test-panels">{% for panel in panels %}'
    '<section class="border border-base-200 rounded-default p-4 mb-4" data-key="{{ panel.key }}">'
    '<h2 class="font-semibold text-lg mb-2">{{ panel.title }}</h2>{{ panel.body }}</section>'
    "{% endfor %}</div>{% endblock %}"
)
DAYS = 7


def panels_page(request: HttpRequest) -> HttpResponse:
    tenant = getattr(request, "tenant", None)
    if tenant is None or not request.user.is_authenticated:
        raise PermissionDenied
    end = datetime.combine(timezone.localdate() + timedelta(days=1), datetime.min.time())
    end = timezone.make_aware(end)
    period = Period(start=end - timedelta(days=DAYS), end=end)
    panels: list[dict[str, Any]] = []
    for panel in panels_for(request.user):
        if panel.key.startswith("audits."):
            context = panel.context_for(request, tenant, period)
            body = render_to_string(panel.template, context, request=request)
            panels.append({"key": panel.key, "title": panel.title, "body": mark_safe(body)})  # noqa: S308
    context = {**admin.site.each_context(request), "title": "Reveals", "panels": panels}
    return HttpResponse(engines["django"].from_string(PAGE).render(context, request))


urlpatterns = [path("test-access-panels/", panels_page), *project_urls]
