from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audits.models import AuditEvent
from tenants.admin import TenantScopedModelAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(TenantScopedModelAdmin):
    """Read-only: the log is append-only, and the admin offers no way to change it."""

    list_display = [
        "sequence",
        "occurred_at",
        "actor",
        "action",
        "object_type",
        "object_id",
        "purpose",
    ]
    list_filter = ["action", "purpose"]
    search_fields = ["object_id", "request_id", "actor"]
    date_hierarchy = "occurred_at"
    actions = None
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
