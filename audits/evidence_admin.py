"""The back office's evidence packs (issue 20, point 6): the list of the tenant's packs with
their state and progress (the page refreshes itself while a pack is queued or being
built: a meta refresh, no script), the request form (from/to local dates), and the
download of a done pack (audited). For supervisors, privacy officers and tenant
administrators (``audits.panels.SUPERVISORS``); anyone else is refused (403), another
tenant's pack is a 404."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from audits.evidence_packs import (
    MAX_DAYS,
    archive_path,
    check_period,
    download_name,
    may_handle_packs,
    pack_of,
    packs_of,
    record_download,
    request_evidence_pack,
)
from audits.models import EvidencePack, EvidencePackState
from tenants.admin import ReadOnlyAdminMixin, TenantScopedModelAdmin
from tenants.models import Tenant, User

#: Seconds between two refreshes of the list while a pack is pending.
REFRESH_SECONDS = 3


class EvidencePackForm(forms.Form):
    # type="date" takes ISO dates whatever the language (the browser shows them its way).
    start = forms.DateField(
        label=gettext_lazy("From"),
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    end = forms.DateField(
        label=gettext_lazy("To"),
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def __init__(self, *args: Any, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tenant = tenant

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "start" in data and "end" in data:
            try:
                check_period(
                    data["start"], data["end"], today=timezone.localdate(timezone=self.tenant.zone)
                )
            except ValidationError as error:
                raise ValidationError(error.message_dict) from None
        return data


def _tenant(request: HttpRequest) -> Tenant:
    tenant = getattr(request, "tenant", None)
    if not may_handle_packs(request.user, tenant):
        raise PermissionDenied(
            _("Evidence packs are for supervisors, privacy officers and tenant administrators.")
        )
    return cast(Tenant, tenant)


@admin.register(EvidencePack)
class EvidencePackAdmin(ReadOnlyAdminMixin, TenantScopedModelAdmin):
    """Not a model list: the changelist is the packs page (``packs_view``)."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return may_handle_packs(request.user, getattr(request, "tenant", None))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "",
                self.admin_site.admin_view(self.packs_view),
                name="audits_evidencepack_changelist",
            ),
            path(
                "request/",
                self.admin_site.admin_view(self.request_view),
                name="audits_evidencepack_request",
            ),
            path(
                "<int:pack_id>/download/",
                self.admin_site.admin_view(self.download_view),
                name="audits_evidencepack_download",
            ),
        ]

    def _page(
        self, request: HttpRequest, tenant: Tenant, form: EvidencePackForm, status: int = 200
    ) -> TemplateResponse:
        packs = packs_of(tenant)
        pending = any(
            p.state in (EvidencePackState.QUEUED, EvidencePackState.RUNNING) for p in packs
        )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Evidence packs"),
            "opts": self.model._meta,
            "form": form,
            "packs": packs,
            "pending": pending,
            "refresh_seconds": REFRESH_SECONDS,
            "max_days": MAX_DAYS,
            "request_url": reverse("admin:audits_evidencepack_request"),
        }
        response = TemplateResponse(request, "audits/evidence/list.html", context, status=status)
        response["Cache-Control"] = "no-store"
        return response

    def packs_view(self, request: HttpRequest) -> HttpResponse:
        tenant = _tenant(request)
        today = timezone.localdate(timezone=tenant.zone)
        first = today.replace(day=1) - timedelta(days=1)
        form = EvidencePackForm(
            initial={"start": first.replace(day=1), "end": first}, tenant=tenant
        )
        return self._page(request, tenant, form)

    def request_view(self, request: HttpRequest) -> HttpResponse:
        tenant = _tenant(request)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        form = EvidencePackForm(request.POST, tenant=tenant)
        if not form.is_valid():
            return self._page(request, tenant, form, status=400)
        pack, created = request_evidence_pack(
            tenant=tenant,
            actor=cast(User, request.user),
            first_day=form.cleaned_data["start"],
            last_day=form.cleaned_data["end"],
            language=get_language() or "zh-hans",
        )
        if created:
            messages.success(request, _("The evidence pack is being prepared."))
        else:
            messages.info(request, _("This evidence pack is already being prepared."))
        return redirect("admin:audits_evidencepack_changelist")

    def download_view(self, request: HttpRequest, pack_id: int) -> HttpResponseBase:
        tenant = _tenant(request)
        pack: EvidencePack = pack_of(tenant, pack_id)
        if pack.state != EvidencePackState.DONE:
            raise Http404(_("This evidence pack is not ready."))
        path_ = archive_path(pack)
        if not path_.is_file():
            raise Http404(_("The archive of this evidence pack is missing."))
        record_download(tenant=tenant, actor=cast(User, request.user), pack=pack)
        response = FileResponse(
            path_.open("rb"),
            as_attachment=True,
            filename=download_name(pack),
            content_type="application/zip",
        )
        response["Cache-Control"] = "no-store"
        return response
