from __future__ import annotations

from django.contrib import admin

from incidents.models import OrderAnomaly
from tenants.admin import ReadOnlyAdminMixin, TenantScopedModelAdmin


@admin.register(OrderAnomaly)
class OrderAnomalyAdmin(ReadOnlyAdminMixin, TenantScopedModelAdmin):
    list_display = ["reported_at", "order", "kind", "reported_by", "resolved_at"]
    list_filter = ["kind"]
    list_select_related = ["order"]
    actions = None
