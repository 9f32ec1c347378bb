"""Case studies in the back office (issue 19, point 7): the list of the tenant's case
studies (read only) for tenant administrators and privacy officers; "add" is the attach
page (training.case_study_views, at /admin/training/coursecasestudy/add/), which writes
through training.case_studies. Registered when training.admin imports it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from tenants.admin import TenantScopedModelAdmin
from training import case_study_views
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
        """ "Add" is the attach page: choose a closed case, then edit its prefilled texts
        (it checks who may itself: others get a 403)."""
        response: HttpResponse = case_study_views.attach_page(request)
        return response
