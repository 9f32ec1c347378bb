"""Case studies in the back office (issue 19, point 7): the list of the tenant's case
studies (read only) for tenant administrators and privacy officers; "add" opens the attach
page (training.case_study_views), which writes through training.case_studies. Registered
when training.admin imports it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from tenants.admin import TenantScopedModelAdmin
from training.case_studies import may_attach_case_studies
from training.models import CourseCaseStudy


@admin.register(CourseCaseStudy)
class CourseCaseStudyAdmin(TenantScopedModelAdmin):
    list_display = ["title_en", "title_zh", "course", "source_case_code", "added_at", "published"]
    list_select_related = ["course"]
    list_filter = ["course"]
    fields = [
        "course",
        "title_zh",
        "title_en",
        "body_zh",
        "body_en",
        "source_case_code",
        "added_at",
    ]
    readonly_fields = fields
    actions = None

    def _may(self, request: HttpRequest) -> bool:
        return may_attach_case_studies(request.user)  # type: ignore[arg-type]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._may(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> Any:
        if not self._may(request):
            return super().add_view(request, form_url, extra_context)  # the admin's refusal
        response: HttpResponse = redirect("training:case-study-attach")
        return response
