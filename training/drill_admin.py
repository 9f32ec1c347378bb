"""Drills in the back office (issue 19, point 6): the list with the tenant's 12-month count
(flagged under one), the plan form, and the drill page with its panels ("Run as a drill
case", "Close with lessons learned"). Every write goes through training.drills; every POST
redirects back (post/redirect/get). Only tenant administrators, supervisors and privacy
officers see drills: for anyone else a drill is a 404, like another tenant's.
Registered when training.admin imports it."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import Conflict
from tenants.admin import TenantScopedModelAdmin, refuse
from tenants.models import Role, User
from tenants.selectors import actor_name_of, actor_names
from training import drills
from training.models import DRILL_LESSONS_MAX_LENGTH, Drill, DrillOutcome, DrillState


class DrillForm(forms.ModelForm):
    participant_roles = forms.MultipleChoiceField(
        label=gettext_lazy("Roles taking part"),
        choices=Role.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    participants = forms.MultipleChoiceField(
        label=gettext_lazy("Named participants"),
        choices=(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=gettext_lazy("Optional: people taking part besides the roles chosen."),
    )

    class Meta:
        model = Drill
        fields = ["scenario", "title", "scheduled_for", "participant_roles", "participants"]

    def __init__(self, *args: Any, tenant_id: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tenant_id = tenant_id
        users = drills.tenant_users(tenant_id) if tenant_id is not None else []
        cast(forms.MultipleChoiceField, self.fields["participants"]).choices = [
            (str(u.pk), u.username) for u in users
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors or self.tenant_id is None:
            return data
        try:
            drills.clean_drill(
                tenant_id=self.tenant_id,
                scenario=data.get("scenario"),
                title=data.get("title"),
                scheduled_for=data.get("scheduled_for"),
                participant_roles=data.get("participant_roles") or [],
                participant_ids=data.get("participants") or [],
            )
        except ValidationError as error:
            for field, messages_ in error.message_dict.items():
                self.add_error(field if field in self.fields else None, messages_)
        return data


class CloseDrillForm(forms.Form):
    outcome = forms.ChoiceField(label=gettext_lazy("Outcome"), choices=DrillOutcome.choices)
    lessons = forms.CharField(
        label=gettext_lazy("Lessons learned"),
        max_length=DRILL_LESSONS_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy(
            "What went well, what to change. Required unless cancelled. Do not write "
            "personal data: no names, phone numbers or addresses."
        ),
    )


def _case_link(drill: Drill) -> str:
    case = drills.linked_case(drill)
    if case is None:
        return "-"
    text = f"{case.code} · {case.state}" if case.state else case.code
    if not case.url:
        return text
    return format_html('<a href="{}">{}</a>', case.url, text)


@admin.register(Drill)
class DrillAdmin(TenantScopedModelAdmin):
    form = DrillForm
    list_display = ["title", "scenario", "scheduled_for", "state", "case_link", "outcome"]
    list_filter = ["state", "scenario", "outcome"]
    change_list_template = "admin/training/drill/change_list.html"
    change_form_template = "admin/training/drill/change_form.html"
    actions = None

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return list(DrillForm.Meta.fields)
        return [
            "scenario",
            "title",
            "scheduled_for",
            "state",
            "roles",
            "named",
            "planned_by_name",
            "case_link",
            "outcome",
            "lessons",
            "held_at",
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        return self.get_fields(request, obj)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form_class = super().get_form(request, obj, change=change, **kwargs)
        tenant = getattr(request, "tenant", None)

        class TenantDrillForm(form_class):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **inner: Any) -> None:
                super().__init__(*args, tenant_id=tenant.pk if tenant else None, **inner)

        return TenantDrillForm

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if not drills.may_manage_drills(request.user):  # type: ignore[arg-type]
            return queryset.none()
        return queryset

    def has_module_permission(self, request: HttpRequest) -> bool:
        return drills.may_manage_drills(request.user)  # type: ignore[arg-type]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return drills.may_manage_drills(request.user)  # type: ignore[arg-type]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return drills.may_manage_drills(request.user)  # type: ignore[arg-type]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a drill changes through its panels only

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=gettext_lazy("drill case"))
    def case_link(self, drill: Drill) -> str:
        return _case_link(drill)

    @admin.display(description=gettext_lazy("roles taking part"))
    def roles(self, drill: Drill) -> str:
        return ", ".join(str(Role(r).label) for r in drill.participant_roles) or "-"

    @admin.display(description=gettext_lazy("named participants"))
    def named(self, drill: Drill) -> str:
        names = actor_names(drill.participants, tenant_id=drill.tenant_id)
        return ", ".join(names.get(p, p) for p in drill.participants) or "-"

    @admin.display(description=gettext_lazy("planned by"))
    def planned_by_name(self, drill: Drill) -> str:
        return actor_name_of(drill, "planned_by")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        drill = drills.plan_drill(
            tenant=request.tenant,  # type: ignore[attr-defined]
            scenario=data["scenario"],
            title=data["title"],
            scheduled_for=data["scheduled_for"],
            participant_roles=data["participant_roles"],
            participant_ids=data["participants"],
            actor=cast(User, request.user),
        )
        obj.__dict__.update({k: v for k, v in drill.__dict__.items() if k != "_state"})
        obj._state.adding = False

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return None  # the audit log records the planning

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> Any:
        messages.success(request, _("The drill is planned."))
        return redirect(reverse("admin:training_drill_change", args=[obj.pk]))

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        extra = dict(extra_context or {})
        tenant = getattr(request, "tenant", None)
        if tenant is not None and drills.may_manage_drills(request.user):  # type: ignore[arg-type]
            extra["drills_held"] = drills.drills_last_12_months(tenant)
            extra["drill_flagged"] = drills.drill_flag(tenant)
        return super().changelist_view(request, extra)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        extra = dict(extra_context or {})
        drill = self.get_object(request, object_id)
        if drill is not None:
            extra.update(
                {
                    "may_run": drill.state == DrillState.PLANNED and drills.has_drill_runner(),
                    "linked_case": drills.linked_case(drill),
                    "close_form": CloseDrillForm(auto_id="drill-%s")
                    if drill.state != DrillState.CLOSED
                    else None,
                }
            )
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:drill_id>/run/",
                self.admin_site.admin_view(self.run_view),
                name="training_drill_run",
            ),
            path(
                "<int:drill_id>/close/",
                self.admin_site.admin_view(self.close_view),
                name="training_drill_close",
            ),
            *super().get_urls(),
        ]

    def _drill_or_404(self, request: HttpRequest, drill_id: int) -> Drill:
        drill = self.get_object(request, str(drill_id))
        if drill is None:
            raise Http404(_("No such drill."))
        return cast(Drill, drill)

    def run_view(self, request: HttpRequest, drill_id: int) -> HttpResponse:
        drill = self._drill_or_404(request, drill_id)
        back = redirect(reverse("admin:training_drill_change", args=[drill.pk]))
        if request.method != "POST":
            return back
        try:
            case = drills.run_drill(drill=drill, actor=cast(User, request.user))
        except (ValidationError, Conflict, PermissionDenied) as error:
            refuse(request, error)
        else:
            messages.success(
                request, _("The drill runs as the case %(code)s.") % {"code": case.code}
            )
        return back

    def close_view(self, request: HttpRequest, drill_id: int) -> HttpResponse:
        drill = self._drill_or_404(request, drill_id)
        back = redirect(reverse("admin:training_drill_change", args=[drill.pk]))
        if request.method != "POST":
            return back
        form = CloseDrillForm(request.POST)
        if not form.is_valid():
            for field, errors in form.errors.items():
                label = form.fields[field].label if field in form.fields else None
                text = " ".join(str(e) for e in errors)
                messages.error(request, f"{label}: {text}" if label else text)
            return back
        try:
            drills.close_drill(
                drill=drill,
                outcome=form.cleaned_data["outcome"],
                lessons=form.cleaned_data["lessons"],
                actor=cast(User, request.user),
            )
        except (ValidationError, Conflict, PermissionDenied) as error:
            refuse(request, error)
        else:
            messages.success(request, _("The drill is closed."))
        return back
