from __future__ import annotations

from typing import Any, cast

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from privacy.models import DataSubject, PrivacyNotice
from privacy.services import NOTICE_TEXT_FIELDS, publish_notice
from tenants.admin import ReadOnlyAdminMixin, TenantScopedModelAdmin
from tenants.models import User


@admin.register(PrivacyNotice)
class PrivacyNoticeAdmin(TenantScopedModelAdmin):
    """Publishing a notice adds a version; published versions are never edited."""

    list_display = ["version", "retention_days", "published_at", "published_by"]
    fields = [*NOTICE_TEXT_FIELDS, "retention_days"]
    actions = None

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [*self.fields, "version", "published_at", "published_by"] if obj else []

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        notice = publish_notice(
            tenant=request.tenant,  # type: ignore[attr-defined]
            actor=cast(User, request.user),
            retention_days=form.cleaned_data["retention_days"],
            **{f: form.cleaned_data[f] for f in NOTICE_TEXT_FIELDS},
        )
        obj.pk, obj.version = notice.pk, notice.version

    def add_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().add_view(request, *args, **kwargs)
        except ValidationError as error:  # raised by the service after form validation
            self.message_user(request, "; ".join(error.messages), level="error")
            return super().add_view(request, *args, **kwargs)


@admin.register(DataSubject)
class DataSubjectAdmin(ReadOnlyAdminMixin, TenantScopedModelAdmin):
    """Customers as masks only; revealing goes through the audited reveal service."""

    list_display = [
        "id",
        "name_masked",
        "phone_masked",
        "address_masked",
        "created_at",
        "erased_at",
    ]
    fields = ["id", "name_masked", "phone_masked", "address_masked", "created_at", "erased_at"]
    readonly_fields = [
        "id",
        "name_masked",
        "phone_masked",
        "address_masked",
        "created_at",
        "erased_at",
    ]
    actions = None
