from __future__ import annotations

from django.contrib import admin

from audits.models import AuditEvent
from tenants.admin import ReadOnlyAdminMixin, TenantScopedModelAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, TenantScopedModelAdmin):
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
