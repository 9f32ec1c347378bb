"""Inspections in the back office (issue 20, point 3): the inspections' list (filters:
state, scope, overdue or upcoming), the plan form, the checklist page where findings are
recorded item by item — one plain form per item, no JavaScript — with evidence files and a
follow-up for each failure, the evidence download, and the follow-ups' list (filters: open,
overdue, owner) with the close form. Every write goes through audits.inspections.services;
a success redirects (post/redirect/get); a refusal renders the page again with 400 (bad
input, naming the field) or 409 (the state forbids it). Inspections are for supervisors,
privacy officers and tenant administrators; a follow-up also for its owner. Anything else,
or another tenant's, is a 404. Registered when audits.admin imports it."""

from __future__ import annotations

import datetime
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import BooleanField, Case, Count, Q, QuerySet, When
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminSingleDateWidget

from audits.checklists import ItemKind
from audits.inspections import evidence as evidence_files
from audits.inspections import selectors, services
from audits.models import (
    INSPECTION_NOTE_MAX_LENGTH,
    INSPECTION_TITLE_MAX_LENGTH,
    FindingResult,
    FollowUp,
    FollowUpState,
    Inspection,
    InspectionScope,
    InspectionState,
    Recurrence,
)
from audits.services import record_event
from core.errors import Conflict
from tenants.admin import TenantScopedModelAdmin
from tenants.models import Tenant, User
from tenants.scoping import tenant_scope

NOTE_HELP = gettext_lazy(
    "Describe what was seen or heard. Do not write customers' personal data: no names, "
    "phone numbers or addresses; refer to orders by their code."
)


def _tenant(request: HttpRequest) -> Tenant | None:
    return getattr(request, "tenant", None)


def _supervises(request: HttpRequest) -> bool:
    tenant = _tenant(request)
    return services.may_supervise(request.user, tenant.pk if tenant else None)


def _staff_of_tenant(request: HttpRequest) -> bool:
    tenant = _tenant(request)
    user = request.user
    return isinstance(user, User) and tenant is not None and user.tenant_id == tenant.pk


def _field_errors(error: ValidationError) -> dict[str, list[str]]:
    if hasattr(error, "error_dict"):
        return {field: [str(m) for m in texts] for field, texts in error.message_dict.items()}
    return {"__all__": [str(m) for m in error.messages]}


# --- the plan form -------------------------------------------------------------------------


class DateWidget(UnfoldAdminSingleDateWidget):
    """Unfold's date field as the browser's own date picker (no script)."""

    input_type = "date"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%d")


class InspectionForm(forms.ModelForm):
    inspector = forms.ChoiceField(
        label=gettext_lazy("Inspector"), choices=(), widget=UnfoldAdminSelectWidget
    )

    class Meta:
        model = Inspection
        fields = ["title", "scope", "planned_for", "inspector", "recurrence"]
        widgets = {"planned_for": DateWidget()}
        help_texts = {
            "title": gettext_lazy("For example: Quarterly inspection of the packing station."),
            "recurrence": gettext_lazy(
                "A recurring inspection's next occurrence is planned by itself two weeks "
                "before its date."
            ),
        }

    def __init__(self, *args: Any, tenant: Tenant | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        people = services.inspector_choices(tenant) if tenant is not None else []
        cast(forms.ChoiceField, self.fields["inspector"]).choices = [
            ("", "---------"),
            *[(str(u.pk), u.username) for u in people],
        ]
        cast(forms.CharField, self.fields["title"]).max_length = INSPECTION_TITLE_MAX_LENGTH

    def _post_clean(self) -> None:
        # The service checks the values and the model is created by it: no instance checks.
        pass

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors or self.tenant is None:
            return data
        try:
            data["plan"] = services.clean_plan(
                tenant=self.tenant,
                title=data.get("title"),
                scope=data.get("scope"),
                planned_for=data.get("planned_for"),
                inspector_id=data.get("inspector"),
                recurrence=data.get("recurrence") or "",
            )
        except ValidationError as error:
            for field, texts in _field_errors(error).items():
                self.add_error(field if field in self.fields else None, texts)
        return data


# --- list filters --------------------------------------------------------------------------


class InspectionDueFilter(admin.SimpleListFilter):
    title = gettext_lazy("overdue")
    parameter_name = "overdue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("yes", gettext_lazy("Overdue")),
            ("upcoming", gettext_lazy("Upcoming (next 30 days)")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        tenant = _tenant(request)
        if tenant is None or self.value() not in ("yes", "upcoming"):
            return queryset
        today = services.local_today(tenant)
        if self.value() == "yes":
            return selectors.overdue_inspections(queryset, today)
        return queryset.filter(
            state__in=selectors.ACTIVE_STATES,
            planned_for__gte=today,
            planned_for__lte=today + datetime.timedelta(days=selectors.UPCOMING_DAYS),
        )


class FollowUpOverdueFilter(admin.SimpleListFilter):
    title = gettext_lazy("overdue")
    parameter_name = "overdue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", gettext_lazy("Overdue"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        tenant = _tenant(request)
        if tenant is None or self.value() != "yes":
            return queryset
        return selectors.overdue_follow_ups(queryset, services.local_today(tenant))


class FollowUpOwnerFilter(admin.SimpleListFilter):
    title = gettext_lazy("owner")
    parameter_name = "owner"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        tenant = _tenant(request)
        if tenant is None or not _supervises(request):
            return []  # an owner sees only their own follow-ups
        with tenant_scope(tenant):
            ids = set(FollowUp.objects.values_list("owner_id", flat=True).distinct()[:200])
        users = User.objects.filter(pk__in=ids, tenant=tenant).order_by("username")
        return [(str(u.pk), u.username) for u in users]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value or not value.isdigit() or len(value) > 12:
            return queryset
        return queryset.filter(owner_id=int(value))


def _badge(text: str, kind: str) -> str:
    return format_html('<span class="baomi-badge baomi-badge-{}">{}</span>', kind, text)


# --- inspections ---------------------------------------------------------------------------


@admin.register(Inspection)
class InspectionAdmin(TenantScopedModelAdmin):
    form = InspectionForm
    list_display = [
        "title_link",
        "scope",
        "planned_for",
        "inspector_name",
        "state_badge",
        "progress",
        "failed",
        "recurrence",
    ]
    list_filter = ["state", "scope", InspectionDueFilter]
    list_per_page = 50
    actions = None
    search_fields: list[str] = []

    class Media:
        css = {"all": ("audits/inspections.css",)}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if not _supervises(request):
            return queryset.none()
        today = services.local_today(cast(Tenant, _tenant(request)))
        return queryset.select_related("inspector").annotate(
            is_overdue=Case(
                When(state__in=selectors.ACTIVE_STATES, planned_for__lt=today, then=True),
                default=False,
                output_field=BooleanField(),
            ),
            item_count=Count("items", distinct=True),
            found_count=Count("items__findings", distinct=True),
            failed_count=Count(
                "items__findings",
                filter=Q(items__findings__result=FindingResult.FAIL),
                distinct=True,
            ),
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _supervises(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _supervises(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _supervises(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # an inspection changes through its checklist page only

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=gettext_lazy("title"), ordering="title")
    def title_link(self, obj: Inspection) -> str:
        return obj.title  # the admin links it to the change view: the checklist page

    @admin.display(description=gettext_lazy("inspector"))
    def inspector_name(self, obj: Inspection) -> str:
        return obj.inspector.username

    @admin.display(description=gettext_lazy("state"), ordering="state")
    def state_badge(self, obj: Inspection) -> str:
        label = str(InspectionState(obj.state).label)
        if getattr(obj, "is_overdue", False):
            return format_html("{} {}", label, _badge(_("Overdue"), "overdue"))
        return label

    @admin.display(description=gettext_lazy("findings"))
    def progress(self, obj: Inspection) -> str:
        return f"{getattr(obj, 'found_count', 0)}/{getattr(obj, 'item_count', 0)}"

    @admin.display(description=gettext_lazy("failed"))
    def failed(self, obj: Inspection) -> Any:
        count = getattr(obj, "failed_count", 0)
        return _badge(str(count), "overdue") if count else "0"

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form_class = super().get_form(request, obj, change=change, **kwargs)
        tenant = _tenant(request)

        class TenantInspectionForm(form_class):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **inner: Any) -> None:
                super().__init__(*args, tenant=tenant, **inner)

        return TenantInspectionForm

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        plan = form.cleaned_data["plan"]
        inspection = services.plan_inspection(
            tenant=cast(Tenant, _tenant(request)),
            actor=cast(User, request.user),
            title=plan["title"],
            scope=plan["scope"],
            planned_for=plan["planned_for"],
            inspector_id=plan["inspector"].pk,
            recurrence=plan["recurrence"],
        )
        obj.__dict__.update({k: v for k, v in inspection.__dict__.items() if k != "_state"})
        obj._state.adding = False

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return None  # the audit log records the planning

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> Any:
        messages.success(request, _("The inspection is planned with its checklist."))
        return redirect(reverse("admin:audits_inspection_checklist", args=[obj.pk]))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        if not str(object_id).isdigit():
            raise Http404(_("No such inspection."))
        return redirect(reverse("admin:audits_inspection_checklist", args=[int(object_id)]))

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path(
                "<int:inspection_id>/checklist/",
                view(self.checklist_view),
                name="audits_inspection_checklist",
            ),
            path(
                "<int:inspection_id>/checklist/<int:item_id>/",
                view(self.finding_view),
                name="audits_inspection_finding",
            ),
            path(
                "<int:inspection_id>/start/",
                view(self.start_view),
                name="audits_inspection_start",
            ),
            path(
                "<int:inspection_id>/complete/",
                view(self.complete_view),
                name="audits_inspection_complete",
            ),
            path(
                "evidence/<int:evidence_id>/",
                view(self.evidence_view),
                name="audits_inspection_evidence",
            ),
            *super().get_urls(),
        ]

    # --- the checklist page ----------------------------------------------------------------

    def _inspection_or_404(self, request: HttpRequest, inspection_id: int) -> Inspection:
        inspection = selectors.inspection_for(request.user, _tenant(request), inspection_id)
        if inspection is None:
            raise Http404(_("No such inspection."))
        return inspection

    def _page(
        self,
        request: HttpRequest,
        inspection: Inspection,
        *,
        status: int = 200,
        errors: dict[str, list[str]] | None = None,
        error_item: int | None = None,
        posted: dict[str, str] | None = None,
        page_error: str = "",
    ) -> TemplateResponse:
        language = get_language()
        items = selectors.checklist_of(inspection)
        tenant = cast(Tenant, inspection.tenant)
        owners = services.owner_choices(tenant) if inspection.state == "in_progress" else []
        rows = []
        for item in items:
            found = item.found  # type: ignore[attr-defined]
            rows.append(
                {
                    "item": item,
                    "text": item.text(language),
                    "kind": ItemKind(item.kind).label if item.kind in ItemKind.values else "",
                    "found": found,
                    "follow_up": getattr(found, "follow_up", None) if found else None,
                    "evidence": list(found.evidence.all()) if found else [],
                    "errors": errors if error_item == item.pk else None,
                    "general_errors": (errors or {}).get("__all__")
                    if error_item == item.pk
                    else None,
                    "posted": posted if error_item == item.pk else None,
                }
            )
        missing = sum(1 for row in rows if row["found"] is None)
        context = {
            **self.admin_site.each_context(request),
            "opts": Inspection._meta,
            "title": inspection.title,
            "inspection": inspection,
            "scope_label": InspectionScope(inspection.scope).label,
            "state_label": InspectionState(inspection.state).label,
            "recurrence_label": Recurrence(inspection.recurrence).label,
            "rows": rows,
            "missing": missing,
            "owners": owners,
            "results": FindingResult.choices,
            "today": services.local_today(tenant).isoformat(),
            "note_help": NOTE_HELP,
            "note_max": INSPECTION_NOTE_MAX_LENGTH,
            "max_files": evidence_files.MAX_FILES,
            "max_bytes": evidence_files.max_bytes(),
            "page_error": page_error,
            "overdue": inspection.state != InspectionState.COMPLETED
            and inspection.planned_for < services.local_today(tenant),
        }
        response = TemplateResponse(
            request, "audits/inspections/checklist.html", context, status=status
        )
        response["Cache-Control"] = "no-store"
        return response

    def checklist_view(self, request: HttpRequest, inspection_id: int) -> HttpResponseBase:
        inspection = self._inspection_or_404(request, inspection_id)
        if request.method not in ("GET", "HEAD"):
            return HttpResponse(status=405)
        return self._page(request, inspection)

    def _back(self, inspection: Inspection, anchor: str = "") -> HttpResponse:
        url = reverse("admin:audits_inspection_checklist", args=[inspection.pk])
        return redirect(f"{url}#{anchor}" if anchor else url)

    def start_view(self, request: HttpRequest, inspection_id: int) -> HttpResponseBase:
        inspection = self._inspection_or_404(request, inspection_id)
        if request.method != "POST":
            return self._back(inspection)
        try:
            services.start_inspection(inspection=inspection, actor=cast(User, request.user))
        except Conflict as error:
            return self._page(request, inspection, status=409, page_error=error.message)
        messages.success(request, _("The inspection is in progress: record its findings."))
        return self._back(inspection)

    def complete_view(self, request: HttpRequest, inspection_id: int) -> HttpResponseBase:
        inspection = self._inspection_or_404(request, inspection_id)
        if request.method != "POST":
            return self._back(inspection)
        try:
            services.complete_inspection(inspection=inspection, actor=cast(User, request.user))
        except Conflict as error:
            return self._page(request, inspection, status=409, page_error=error.message)
        messages.success(request, _("The inspection is completed."))
        return self._back(inspection)

    def finding_view(
        self, request: HttpRequest, inspection_id: int, item_id: int
    ) -> HttpResponseBase:
        inspection = self._inspection_or_404(request, inspection_id)
        if request.method != "POST":
            return self._back(inspection, f"item-{item_id}")
        uploads = request.FILES.getlist("evidence")
        posted = {
            "result": str(request.POST.get("result", ""))[:32],
            "note": str(request.POST.get("note", ""))[:INSPECTION_NOTE_MAX_LENGTH],
            "owner": str(request.POST.get("owner", ""))[:12],
            "due_on": str(request.POST.get("due_on", ""))[:10],
        }
        try:
            if len(uploads) > evidence_files.MAX_FILES:
                raise ValidationError(
                    {
                        "evidence": _("At most %(n)s files at once.")
                        % {"n": evidence_files.MAX_FILES}
                    }
                )
            limit = evidence_files.max_bytes()
            files = []
            for upload in uploads:
                if upload.size is not None and upload.size > limit:
                    raise evidence_files.too_big(upload.size)
                files.append(upload.read())
            services.record_finding(
                inspection=inspection,
                item_id=item_id,
                actor=cast(User, request.user),
                result=request.POST.get("result", ""),
                note=request.POST.get("note", ""),
                files=files,
                follow_up_owner_id=request.POST.get("owner") or None,
                follow_up_due=request.POST.get("due_on") or None,
            )
        except ValidationError as error:
            return self._page(
                request,
                inspection,
                status=400,
                errors=_field_errors(error),
                error_item=item_id,
                posted=posted,
            )
        except Conflict as error:
            return self._page(request, inspection, status=409, page_error=error.message)
        messages.success(request, _("Finding recorded."))
        return self._back(inspection, f"item-{item_id}")

    def evidence_view(self, request: HttpRequest, evidence_id: int) -> HttpResponseBase:
        if request.method not in ("GET", "HEAD"):
            return HttpResponse(status=405)
        tenant = _tenant(request)
        evidence = selectors.evidence_for(request.user, tenant, evidence_id)
        if evidence is None or tenant is None:
            raise Http404(_("No such evidence file."))
        try:
            handle = evidence_files.evidence_path(evidence).open("rb")
        except FileNotFoundError:
            raise Http404(_("No such evidence file.")) from None
        try:
            with tenant_scope(tenant), transaction.atomic():
                record_event(
                    tenant=tenant,
                    actor=cast(User, request.user),
                    action="inspections.evidence_downloaded",
                    target=evidence,
                    details={
                        "evidence": evidence.pk,
                        "finding": evidence.finding_id,
                        "inspection": evidence.finding.item.inspection_id,
                        "sha256": evidence.sha256,
                    },
                )
        except BaseException:
            handle.close()
            raise
        response = FileResponse(
            handle,
            content_type=evidence.content_type,
            as_attachment=True,
            filename=evidence_files.download_name(evidence),
        )
        response["Content-Length"] = str(evidence.size)
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        # Even opened on its own, a file runs nothing.
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response


# --- follow-ups ----------------------------------------------------------------------------


class CloseFollowUpForm(forms.Form):
    note = forms.CharField(
        label=gettext_lazy("What was done"),
        max_length=INSPECTION_NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=NOTE_HELP,
    )


@admin.register(FollowUp)
class FollowUpAdmin(TenantScopedModelAdmin):
    list_display = [
        "follow_up",
        "inspection_link",
        "owner_name",
        "due_on",
        "state_badge",
    ]
    list_filter = ["state", FollowUpOverdueFilter, FollowUpOwnerFilter]
    list_per_page = 50
    actions = None

    class Media:
        css = {"all": ("audits/inspections.css",)}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if not _staff_of_tenant(request):
            return queryset.none()
        today = services.local_today(cast(Tenant, _tenant(request)))
        queryset = queryset.select_related("owner", "finding__item__inspection").annotate(
            is_overdue=Case(
                When(state=FollowUpState.OPEN, due_on__lt=today, then=True),
                default=False,
                output_field=BooleanField(),
            )
        )
        if _supervises(request):
            return queryset
        return queryset.filter(owner_id=request.user.pk)

    def _may_see(self, request: HttpRequest) -> bool:
        if _supervises(request):
            return True
        # Asked by the sidebar and the admin's index on every page: one query per request.
        known = getattr(request, "_baomi_owns_follow_ups", None)
        if known is None:
            tenant = _tenant(request)
            if tenant is None or not _staff_of_tenant(request):
                known = False
            else:
                with tenant_scope(tenant):
                    known = FollowUp.objects.filter(owner_id=request.user.pk).exists()
            request._baomi_owns_follow_ups = known  # type: ignore[attr-defined]
        return bool(known)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may_see(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_see(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a follow-up comes from a failed finding

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=gettext_lazy("follow-up"))
    def follow_up(self, obj: FollowUp) -> str:
        item = obj.finding.item  # the admin links it to the follow-up's page
        return f"§{item.clause} {item.text(get_language())}"

    @admin.display(description=gettext_lazy("inspection"))
    def inspection_link(self, obj: FollowUp) -> str:
        inspection = obj.finding.item.inspection
        return inspection.title

    @admin.display(description=gettext_lazy("owner"))
    def owner_name(self, obj: FollowUp) -> str:
        return obj.owner.username

    @admin.display(description=gettext_lazy("state"), ordering="state")
    def state_badge(self, obj: FollowUp) -> str:
        label = str(FollowUpState(obj.state).label)
        if getattr(obj, "is_overdue", False):
            return format_html("{} {}", label, _badge(_("Overdue"), "overdue"))
        return label

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        follow_up = selectors.follow_up_for(request.user, _tenant(request), object_id)
        if follow_up is None:
            raise Http404(_("No such follow-up."))
        return self._page(request, follow_up)

    def _page(
        self,
        request: HttpRequest,
        follow_up: FollowUp,
        *,
        form: CloseFollowUpForm | None = None,
        status: int = 200,
        page_error: str = "",
    ) -> TemplateResponse:
        item = follow_up.finding.item
        tenant = cast(Tenant, follow_up.tenant)
        may_close = follow_up.state == FollowUpState.OPEN and services.may_close_follow_up(
            request.user, follow_up
        )
        inspection = item.inspection
        context = {
            **self.admin_site.each_context(request),
            "opts": FollowUp._meta,
            "title": _("Follow-up: §%(clause)s") % {"clause": item.clause},
            "follow_up": follow_up,
            "item": item,
            "item_text": item.text(get_language()),
            "inspection": inspection,
            "inspection_url": reverse("admin:audits_inspection_checklist", args=[inspection.pk])
            if _supervises(request)
            else "",
            "state_label": FollowUpState(follow_up.state).label,
            "overdue": follow_up.state == FollowUpState.OPEN
            and follow_up.due_on < services.local_today(tenant),
            "form": (form or CloseFollowUpForm(auto_id="follow-up-%s")) if may_close else None,
            "page_error": page_error,
        }
        response = TemplateResponse(
            request, "audits/inspections/follow_up.html", context, status=status
        )
        response["Cache-Control"] = "no-store"
        return response

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:follow_up_id>/close/",
                self.admin_site.admin_view(self.close_view),
                name="audits_followup_close",
            ),
            *super().get_urls(),
        ]

    def close_view(self, request: HttpRequest, follow_up_id: int) -> HttpResponseBase:
        follow_up = selectors.follow_up_for(request.user, _tenant(request), follow_up_id)
        if follow_up is None:
            raise Http404(_("No such follow-up."))
        back = redirect(reverse("admin:audits_followup_change", args=[follow_up.pk]))
        if request.method != "POST":
            return back
        form = CloseFollowUpForm(request.POST, auto_id="follow-up-%s")
        if not form.is_valid():
            return self._page(request, follow_up, form=form, status=400)
        try:
            services.close_follow_up(
                follow_up=follow_up, actor=cast(User, request.user), note=form.cleaned_data["note"]
            )
        except ValidationError as error:
            for field, texts in _field_errors(error).items():
                form.add_error(field if field in form.fields else None, texts)
            return self._page(request, follow_up, form=form, status=400)
        except Conflict as error:
            return self._page(request, follow_up, status=409, page_error=error.message)
        except PermissionDenied:
            raise Http404(_("No such follow-up.")) from None
        messages.success(request, _("The follow-up is done."))
        return back
