from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminTextInputWidget

from audits.list_filters import day_range_filter
from privacy.erasure_requests import record_staff_request
from privacy.errors import RevealDenied
from privacy.ledger_file import LedgerWriteError
from privacy.models import (
    DataSubject,
    ErasureLedgerEntry,
    ErasureRequest,
    PrivacyNotice,
    RequestStatus,
    RetentionPolicy,
)
from privacy.notices import NOTICE_TEXT_FIELDS, publish_notice
from privacy.permissions import Purpose
from privacy.retention import set_retention_days
from privacy.subjects import find_subjects_by_phone
from tenants.admin import ReadOnlyAdminMixin, TenantScopedModelAdmin, VersionedDocumentAdmin
from tenants.models import User


@admin.register(PrivacyNotice)
class PrivacyNoticeAdmin(VersionedDocumentAdmin):
    """Publishing a notice adds a version; published versions are never edited."""

    list_display = ["version", "retention_days", "published_at", "published_by"]
    fields = [*NOTICE_TEXT_FIELDS, "retention_days"]

    def publish(self, request: HttpRequest, form: Any) -> PrivacyNotice:
        return publish_notice(
            tenant=request.tenant,  # type: ignore[attr-defined]
            actor=cast(User, request.user),
            retention_days=form.cleaned_data["retention_days"],
            **{f: form.cleaned_data[f] for f in NOTICE_TEXT_FIELDS},
        )


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


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(TenantScopedModelAdmin):
    list_display = ["days", "updated_at", "updated_by"]
    fields = ["days"]
    actions = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not RetentionPolicy.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        policy = set_retention_days(
            tenant=request.tenant,  # type: ignore[attr-defined]
            days=form.cleaned_data["days"],
            actor=cast(User, request.user),
        )
        obj.pk = policy.pk


@admin.register(ErasureLedgerEntry)
class ErasureLedgerAdmin(ReadOnlyAdminMixin, TenantScopedModelAdmin):
    list_display = ["reference", "erased_at", "reason", "actor", "records", "subject_id"]
    # ?since=…&until=…: the dashboard's period (issue 20).
    list_filter = ["reason", day_range_filter("erased_at", _("erased on"))]
    search_fields = ["reference"]
    actions = None


class StaffErasureForm(forms.ModelForm):
    phone = forms.CharField(
        label=_("Customer's phone"),
        max_length=32,
        widget=UnfoldAdminTextInputWidget(attrs={"autocomplete": "off", "inputmode": "tel"}),
    )

    class Meta:
        model = ErasureRequest
        fields = ["channel", "evidence"]


class DueFilter(admin.SimpleListFilter):
    """Pending requests past their deadline (``?due=overdue``) or before it
    (``?due=upcoming``): the dashboard's numbers (issue 20)."""

    title = _("deadline")
    parameter_name = "due"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("overdue", _("Overdue")), ("upcoming", _("Waiting, not yet due"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        pending = queryset.filter(status=RequestStatus.PENDING)
        if self.value() == "overdue":
            return pending.filter(due_at__lt=timezone.now())
        if self.value() == "upcoming":
            return pending.filter(due_at__gte=timezone.now())
        return queryset


@admin.register(ErasureRequest)
class ErasureRequestAdmin(TenantScopedModelAdmin):
    """Requests with their verification, result and deadline; the privacy officer records
    requests verified in person or by phone here, and the erasure runs at once."""

    list_display = [
        "received_at",
        "channel",
        "status",
        "due_at",
        "overdue",
        "completed_at",
        "ledger_entry",
    ]
    list_filter = ["status", DueFilter, "channel"]
    actions = None
    form = StaffErasureForm

    @admin.display(boolean=True, description=_("Overdue"))
    def overdue(self, request_row: ErasureRequest) -> bool:
        return request_row.status == RequestStatus.PENDING and request_row.due_at < timezone.now()

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (
            ["phone", "channel", "evidence"]
            if obj is None
            else self.get_readonly_fields(request, obj)
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        return [
            "channel",
            "status",
            "evidence",
            "received_at",
            "due_at",
            "completed_at",
            "handled_by",
            "ledger_entry",
        ]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        officer = cast(User, request.user)
        tenant = request.tenant  # type: ignore[attr-defined]
        matches = find_subjects_by_phone(
            tenant=tenant,
            phone=form.cleaned_data["phone"],
            actor=officer,
            purpose=Purpose.ERASURE_REQUEST,
        )
        if len(matches) != 1:
            raise ValidationError(_("No single customer has this phone number."))
        created = record_staff_request(
            tenant=tenant,
            subject_id=matches[0].pk,
            channel=form.cleaned_data["channel"],
            evidence=form.cleaned_data["evidence"],
            actor=officer,
        )
        obj.pk = created.pk

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        # Without the transaction the admin wraps around a POST: the phone search runs in a
        # durable transaction of its own, like reveal, so that its audit event (or its
        # refusal's) commits whatever happens next, and record_staff_request commits the
        # request and its erasure itself (docs/privacy.md, "Reveal").
        return self._changeform_view(request, object_id, form_url, extra_context)

    def response_add(
        self, request: HttpRequest, obj: Any, post_url_continue: Any = None
    ) -> HttpResponse:
        """Says what happened (the erasure ran, or waits), then shows the request."""
        done = ErasureRequest.objects.filter(pk=obj.pk, status=RequestStatus.COMPLETED).exists()
        if done:
            self.message_user(
                request,
                _(
                    "Erasure request recorded and carried out: the customer's personal data "
                    "is erased, their open orders are withdrawn and the erasure ledger has its "
                    "entry."
                ),
                level="success",
            )
        else:
            self.message_user(
                request,
                _("Erasure request recorded; the erasure has not run yet (see its status)."),
                level="warning",
            )
        return redirect(reverse("admin:privacy_erasurerequest_change", args=[obj.pk]))

    def add_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().add_view(request, *args, **kwargs)
        except (ValidationError, RevealDenied) as error:
            self.message_user(
                request, " ".join(getattr(error, "messages", [str(error)])), level="error"
            )
            return redirect(reverse("admin:privacy_erasurerequest_add"))
        except LedgerWriteError:
            self.message_user(
                request,
                _(
                    "Nothing was erased: the erasure ledger cannot be written right now (the "
                    "failure is in the audit log). The request is recorded as pending; tell "
                    "the operator, then record it again."
                ),
                level="error",
            )
            return redirect(reverse("admin:privacy_erasurerequest_changelist"))
