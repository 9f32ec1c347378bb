from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from audits.models import AuditEvent
from core.audit_registry import AuditCategory, action_label, actions_in, all_actions
from tenants.admin import ReadOnlyAdminMixin, TenantScopedModelAdmin


def action_html(code: str) -> SafeString:
    """The action's label (in the active language) with its code beside it in small text;
    the bare code for one the registry does not know (rows written before it)."""
    label = action_label(code)
    if label == code:
        return format_html("{}", code)
    return format_html('{} <small class="audit-action-code">{}</small>', label, code)


class CategoryFilter(admin.SimpleListFilter):
    """The registry's categories (legacy codes included), not a scan of the log."""

    title = _("category")
    parameter_name = "category"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, str(label)) for value, label in AuditCategory.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        category = self.value()
        if category is None or category not in AuditCategory.values:
            return queryset
        return queryset.filter(action__in=[a.code for a in actions_in(category)])


class ActionFilter(admin.SimpleListFilter):
    """The registered actions by label (within the chosen category)."""

    title = _("action")
    parameter_name = "action"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        category = request.GET.get(CategoryFilter.parameter_name)
        actions = actions_in(category) if category in AuditCategory.values else all_actions()
        return sorted(((a.code, f"{a.label} ({a.code})") for a in actions), key=lambda c: c[1])

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(action=self.value()) if self.value() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, TenantScopedModelAdmin):
    """Read-only: the log is append-only, and the admin offers no way to change it."""

    list_display = [
        "sequence",
        "occurred_at",
        "actor",
        "action_display",
        "object_type",
        "object_id",
        "purpose",
    ]
    list_filter = [CategoryFilter, ActionFilter, "purpose"]
    search_fields = ["object_id", "request_id", "actor"]
    readonly_fields = ["action_display"]
    date_hierarchy = "occurred_at"
    actions = None
    show_full_result_count = False

    @admin.display(description=_("action"), ordering="action")
    def action_display(self, obj: AuditEvent) -> SafeString:
        return action_html(obj.action)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The event's page shows the action like the list: label, then code.
        fields = [f for f in super().get_fields(request, obj) if f != "action_display"]
        return [("action_display" if f == "action" else f) for f in fields]
