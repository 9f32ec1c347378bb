"""Enrolments in the back office (issue 19, point 5): read only, for tenant administrators
and supervisors (``training.view_enrolment``), filtered by course and state — the list the
overdue escalations link to. People by username. Registered when training.admin imports
it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from tenants.admin import ReadOnlyAdminMixin, TenantScopedModelAdmin
from training.models import Course, Enrolment

OPEN, OVERDUE, COMPLETED, WITHDRAWN = "open", "overdue", "completed", "withdrawn"
STATE_LABELS = {
    OPEN: pgettext_lazy("enrolment state", "Open"),
    OVERDUE: pgettext_lazy("enrolment state", "Overdue"),
    COMPLETED: pgettext_lazy("enrolment state", "Completed"),
    WITHDRAWN: pgettext_lazy("enrolment state", "Withdrawn"),
}


def state_of(enrolment: Enrolment, now: Any = None) -> str:
    if enrolment.completed_at is not None:
        return COMPLETED
    if enrolment.withdrawn_at is not None:
        return WITHDRAWN
    return OVERDUE if enrolment.due_at <= (now or timezone.now()) else OPEN


class CourseFilter(admin.SimpleListFilter):
    title = _("course")
    parameter_name = "course"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        # Inside the request's tenant scope: the tenant's own courses.
        return [(str(pk), code) for pk, code in Course.objects.values_list("pk", "code")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value and value.isascii() and value.isdigit():
            return queryset.filter(course_id=int(value))
        return queryset


class StateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return list(STATE_LABELS.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value, now = self.value(), timezone.now()
        open_rows = queryset.filter(completed_at__isnull=True, withdrawn_at__isnull=True)
        if value == OPEN:
            return open_rows.filter(due_at__gt=now)
        if value == OVERDUE:
            return open_rows.filter(due_at__lte=now)
        if value == COMPLETED:
            return queryset.filter(completed_at__isnull=False)
        if value == WITHDRAWN:
            return queryset.filter(withdrawn_at__isnull=False)
        return queryset


@admin.register(Enrolment)
class EnrolmentAdmin(ReadOnlyAdminMixin, TenantScopedModelAdmin):
    list_display = ["username", "course_code", "reason", "created_at", "due_at", "state"]
    list_filter = [CourseFilter, StateFilter, "reason"]
    list_select_related = ["user", "course"]
    fields = [
        "username",
        "course_code",
        "version",
        "reason",
        "created_at",
        "due_at",
        "state",
        "completed_at",
        "withdrawn_at",
    ]
    readonly_fields = fields
    search_fields = ["user__username"]
    actions = None

    @admin.display(description=_("user"), ordering="user__username")
    def username(self, enrolment: Enrolment) -> str:
        return enrolment.user.username

    @admin.display(description=_("course"), ordering="course__code")
    def course_code(self, enrolment: Enrolment) -> str:
        return enrolment.course.code

    @admin.display(description=_("state"))
    def state(self, enrolment: Enrolment) -> str:
        return str(STATE_LABELS[state_of(enrolment)])
