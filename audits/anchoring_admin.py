"""The back office's read-only lists of the audit chain's anchors and verifications
(issue 20, point 5), and the download of a tenant's anchors as JSON lines."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from audits.anchor_sinks import sink_labels
from audits.anchoring import as_json_lines, export_anchors
from audits.models import ChainAnchor, ChainVerification
from tenants.admin import ReadOnlyAdminMixin, TenantScopedModelAdmin
from tenants.models import User


@admin.register(ChainVerification)
class ChainVerificationAdmin(ReadOnlyAdminMixin, TenantScopedModelAdmin):
    list_display = [
        "started_at",
        "finished_at",
        "events_checked",
        "ok",
        "anchors_checked",
        "anchors_failed",
        "first_break",
    ]
    list_filter = ["ok"]
    fields = [*list_display, "problem_list"]
    readonly_fields = fields
    actions = None
    date_hierarchy = "started_at"

    @admin.display(description=_("anchor problems"))
    def problem_list(self, run: ChainVerification) -> str:
        if not run.problems:
            return "-"
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((p,) for p in run.problems))
        )


@admin.register(ChainAnchor)
class ChainAnchorAdmin(ReadOnlyAdminMixin, TenantScopedModelAdmin):
    list_display = ["hour", "anchored_at", "sequence", "short_hash", "written_to", "failed"]
    fields = [
        "hour",
        "anchored_at",
        "sequence",
        "hash",
        "mac",
        "key_version",
        "written_to",
        "failed",
    ]
    readonly_fields = fields
    actions = None
    change_list_template = "admin/audits/chainanchor/change_list.html"

    @admin.display(description=_("hash"))
    def short_hash(self, anchor: ChainAnchor) -> str:
        return f"{anchor.hash[:16]}…"

    @admin.display(description=_("written to"))
    def written_to(self, anchor: ChainAnchor) -> str:
        return ", ".join(sink_labels(anchor.sinks_written))

    @admin.display(description=_("not written to"))
    def failed(self, anchor: ChainAnchor) -> str:
        return ", ".join(sink_labels(anchor.sinks_failed))

    def get_urls(self) -> list[URLPattern]:
        download = path(
            "download/",
            self.admin_site.admin_view(self.download_view),
            name="audits_chainanchor_download",
        )
        return [download, *super().get_urls()]

    def download_view(self, request: HttpRequest) -> HttpResponse:
        """Every anchor of the user's tenant, from the sinks outside the database, as JSON
        lines with their MACs (a GET that only reads and records the export)."""
        tenant = getattr(request, "tenant", None)
        if tenant is None or not self.has_view_permission(request):
            raise PermissionDenied
        anchors, _problems = export_anchors(
            tenant=tenant, actor=cast(User, request.user), via="back_office"
        )
        response = HttpResponse(as_json_lines(anchors), content_type="application/x-ndjson")
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = (
            f'attachment; filename="audit-anchors-{tenant.slug}-{stamp}.jsonl"'
        )
        return response

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> Any:
        return super().changelist_view(request, {**(extra_context or {}), "may_download": True})
