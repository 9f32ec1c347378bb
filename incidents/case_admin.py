"""Leak incident cases in the back office (issue 18, point 1): the list, the add form, and
the case page with its panels (state buttons, containment, timeline); and the anomaly page's
"Promote to an incident case". Every write goes through incidents.cases; every POST
redirects back (post/redirect/get). Only privacy officers, supervisors and tenant
administrators see cases: for anyone else a case is a 404, like another tenant's.
Registered when incidents.admin imports it."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from core.errors import Conflict
from incidents import case_more_admin, clocks, notice_admin
from incidents import cases as case_services
from incidents.investigation_admin import investigation_context, investigation_urls
from incidents.models import (
    CASE_TEXT_MAX_LENGTH,
    REPORT_REFERENCE_MAX_LENGTH,
    CaseEvent,
    CaseEventKind,
    CaseReport,
    CaseReportKind,
    CaseState,
    ContainmentAction,
    DataCategory,
    IncidentCase,
    IncidentProfile,
    OrderAnomaly,
)
from tenants.admin import TenantScopedModelAdmin, refuse
from tenants.models import IntegrationToken, User
from tenants.scoping import tenant_scope
from tenants.selectors import actor_names


class IncidentCaseForm(forms.ModelForm):
    data_categories = forms.MultipleChoiceField(
        label=gettext_lazy("Affected data"),
        choices=DataCategory.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    class Meta:
        model = IncidentCase
        fields = [
            "title",
            "is_drill",
            "severity",
            "severity_reason",
            "kind",
            "data_categories",
            "affected_customers",
            "discovered_at",
            "discovered_by",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            case_services.clean_case(
                title=data.get("title"),
                severity=data.get("severity"),
                severity_reason=data.get("severity_reason"),
                kind=data.get("kind"),
                data_categories=data.get("data_categories") or [],
                affected_customers=data.get("affected_customers"),
                discovered_at=data.get("discovered_at"),
                discovered_by=data.get("discovered_by"),
            )
        except ValidationError as error:
            for field, messages_ in error.message_dict.items():
                self.add_error(field if field in self.fields else None, messages_)
        return data


class CaseMoveForm(forms.Form):
    to = forms.ChoiceField(choices=CaseState.choices)
    note = forms.CharField(
        label=gettext_lazy("Note"),
        max_length=CASE_TEXT_MAX_LENGTH,
        required=False,
        help_text=gettext_lazy("Optional. Do not write personal data."),
    )


class ContainmentForm(forms.Form):
    action = forms.ChoiceField(label=gettext_lazy("Action"), choices=ContainmentAction.choices)
    target = forms.ChoiceField(label=gettext_lazy("On"))
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=CASE_TEXT_MAX_LENGTH,
        help_text=gettext_lazy("Required. Do not write personal data."),
    )

    def __init__(self, *args: Any, case: IncidentCase, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        users = [(f"user-{u.pk}", u.username) for u in case_services.containment_users(case)]
        tokens = [
            (f"token-{t.pk}", _("Integration token “%(name)s”") % {"name": t.name})
            for t in case_services.containment_tokens(case)
        ]
        choices: list[Any] = [(_("Users"), users)]
        if tokens:
            choices.append((_("Integration tokens"), tokens))
        cast(forms.ChoiceField, self.fields["target"]).choices = choices

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind, _sep, pk = str(data.get("target", "")).partition("-")
        wanted = "token" if data.get("action") == ContainmentAction.REVOKE_TOKEN else "user"
        if data.get("target") and kind != wanted:
            self.add_error(
                "target",
                _("Choose an integration token.") if wanted == "token" else _("Choose a user."),
            )
        data["target_id"] = int(pk) if pk.isascii() and pk.isdigit() else 0
        return data


class CaseChangeList(ChangeList):
    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        rows = list(self.result_list)
        if rows:
            names = actor_names([c.opened_by for c in rows], tenant_id=rows[0].tenant_id)
            for case in rows:
                case.opened_by_name = names.get(case.opened_by, case.opened_by)


def _drill_badge(case: IncidentCase) -> str:
    if not case.is_drill:
        return ""
    return format_html('<span class="baomi-drill">{}</span>', _("DRILL"))


_CLOCK_EVENTS = {
    CaseEventKind.REPORT_MADE: gettext_lazy("Report made: %(report)s"),
    CaseEventKind.CLOCK_ESCALATED: gettext_lazy(
        "Escalated to the case's managers: %(report)s is due soon"
    ),
    CaseEventKind.CLOCK_OVERDUE: gettext_lazy("Overdue: %(report)s"),
}


class ReportMadeForm(forms.Form):
    reference = forms.CharField(
        label=gettext_lazy("Authority's reference"),
        max_length=REPORT_REFERENCE_MAX_LENGTH,
        help_text=gettext_lazy(
            "The reference number the authority gave. Required. Do not write personal data."
        ),
    )


def _clock_badge(case: IncidentCase) -> str:
    """The case list's badge: the worst state of its open report clocks."""
    reports = [r for r in case.reports.all() if r.made_at is None and r.withdrawn_at is None]
    if any(r.overdue_at is not None or r.due_at <= timezone.now() for r in reports):
        return format_html('<span class="baomi-drill">{}</span>', _("overdue"))
    if any(r.escalated_at is not None for r in reports):
        return format_html('<span class="baomi-clock-escalated">{}</span>', _("escalated"))
    if reports:
        due = min(r.due_at for r in reports)
        return _("due %(when)s") % {"when": date_format(timezone.localtime(due), "DATETIME_FORMAT")}
    return ""


def _report_rows(case: IncidentCase) -> list[dict[str, Any]]:
    now = timezone.now()
    reports = list(CaseReport.objects.filter(case=case).order_by("due_at", "pk"))
    names = actor_names([r.made_by for r in reports if r.made_by], tenant_id=case.tenant_id)
    return [
        {
            "report": r,
            "label": CaseReportKind(r.kind).label,
            "overdue": r.overdue_at is not None
            or (r.made_at is None and r.withdrawn_at is None and r.due_at <= now),
            "made_by": names.get(r.made_by, r.made_by),
            "form": ReportMadeForm(auto_id=f"report-{r.pk}-%s")
            if r.made_at is None and r.withdrawn_at is None
            else None,
        }
        for r in reports
    ]


def _timeline(case: IncidentCase) -> list[dict[str, Any]]:
    """The case's events, oldest first, people by username and tokens by name."""
    events = list(CaseEvent.objects.filter(case=case).order_by("at", "pk"))
    names = actor_names(
        [e.actor for e in events] + [e.target for e in events], tenant_id=case.tenant_id
    )
    token_ids = [
        int(e.target.partition(":")[2])
        for e in events
        if e.target.startswith("token:")
        and e.target.partition(":")[2].isascii()
        and e.target.partition(":")[2].isdigit()
    ]
    tokens = dict(
        IntegrationToken.objects.filter(pk__in=token_ids).values_list("pk", "name")
        if token_ids
        else []
    )
    rows = []
    for event in events:
        if event.kind == CaseEventKind.OPENED:
            what = _("Opened")
        elif event.kind in _CLOCK_EVENTS:
            what = _CLOCK_EVENTS[event.kind] % {"report": CaseReportKind(event.target).label}
        elif (more := case_more_admin.timeline_text(event, names)) is not None:
            what = more
        elif event.kind == CaseEventKind.MOVED:
            what = _("Moved from “%(from)s” to “%(to)s”") % {
                "from": CaseState(event.from_state).label,
                "to": CaseState(event.to_state).label,
            }
        else:
            kind, _sep, pk = event.target.partition(":")
            target = (
                _("integration token “%(name)s”") % {"name": tokens.get(int(pk), pk)}
                if kind == "token" and pk.isascii() and pk.isdigit()
                else names.get(event.target, event.target)
            )
            what = f"{ContainmentAction(event.action).label}: {target}"
            if event.count is not None:
                what += " · " + ngettext(
                    "%(count)d session ended", "%(count)d sessions ended", event.count
                ) % {"count": event.count}
        rows.append(
            {
                "at": event.at,
                "what": what,
                "actor": names.get(event.actor, event.actor),
                "note": event.note,
            }
        )
    return rows


class OpenCaseFilter(admin.SimpleListFilter):
    """``?open=yes``: the cases not closed (the dashboard's count, issue 20)."""

    title = gettext_lazy("open")
    parameter_name = "open"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", gettext_lazy("Open cases"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.exclude(state=CaseState.CLOSED)
        return queryset


class ClockFilter(admin.SimpleListFilter):
    """``?clock=overdue``: cases owing a report past its due time; ``?clock=running``: cases
    owing one not yet due (drills' reports left out, as on the dashboard, issue 20)."""

    title = gettext_lazy("legal clocks")
    parameter_name = "clock"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("overdue", gettext_lazy("A report overdue")),
            ("running", gettext_lazy("A report owed")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() not in ("overdue", "running"):
            return queryset
        owed = CaseReport.objects.filter(
            made_at__isnull=True, withdrawn_at__isnull=True, is_drill=False
        )
        if self.value() == "overdue":
            owed = owed.filter(due_at__lt=timezone.now())
        return queryset.filter(pk__in=owed.values("case_id"))


@admin.register(IncidentCase)
class IncidentCaseAdmin(TenantScopedModelAdmin):
    form = IncidentCaseForm
    list_display = [
        "code",
        "title",
        "severity",
        "state",
        "drill",
        "clocks",
        "discovered_at",
        "opened_by_name",
    ]
    list_filter = ["state", OpenCaseFilter, ClockFilter, "severity", "is_drill"]
    readonly_fields = [
        "code",
        "state",
        "opened_by_name",
        "opened_at",
        "anomaly_link",
        "affected_data",
        "alert_link",
    ]
    change_form_template = "admin/incidents/incidentcase/change_form.html"
    actions = None

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(IncidentCaseForm.Meta.fields)
        if obj is None:
            return fields
        # The affected data by label (the JSON field's own display shows raw codes).
        fields[fields.index("data_categories")] = "affected_data"
        shown = ["code", "state", *fields, "opened_by_name", "opened_at", "anomaly_link"]
        return [*shown, "alert_link"] if obj.alert_id is not None else shown

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if not case_services.may_manage_cases(request.user):  # type: ignore[arg-type]
            return queryset.none()
        return queryset.prefetch_related("reports")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return case_services.may_manage_cases(request.user)  # type: ignore[arg-type]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return case_services.may_manage_cases(request.user)  # type: ignore[arg-type]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return case_services.may_manage_cases(request.user)  # type: ignore[arg-type]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a case changes through its panels only

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> Any:
        return CaseChangeList

    @admin.display(description=gettext_lazy("drill"))
    def drill(self, case: IncidentCase) -> str:
        return _drill_badge(case)

    @admin.display(description=gettext_lazy("reports due"))
    def clocks(self, case: IncidentCase) -> str:
        return _clock_badge(case)

    @admin.display(description=gettext_lazy("opened by"))
    def opened_by_name(self, case: IncidentCase) -> str:
        if not hasattr(case, "opened_by_name"):
            names = actor_names([case.opened_by], tenant_id=case.tenant_id)
            return names.get(case.opened_by, case.opened_by)
        return cast(str, case.opened_by_name)

    @admin.display(description=gettext_lazy("affected data"))
    def affected_data(self, case: IncidentCase) -> str:
        labels = [str(DataCategory(code).label) for code in case.data_categories]
        return ", ".join(labels) or "-"

    @admin.display(description=gettext_lazy("promoted from anomaly"))
    def anomaly_link(self, case: IncidentCase) -> str:
        if case.anomaly_id is None:
            return "-"
        url = reverse("admin:incidents_orderanomaly_change", args=[case.anomaly_id])
        return format_html('<a href="{}">{}</a>', url, _("The order anomaly"))

    @admin.display(description=gettext_lazy("promoted from alert"))
    def alert_link(self, case: IncidentCase) -> str:
        if case.alert_id is None:
            return "-"
        url = reverse("admin:audits_accessalert_change", args=[case.alert_id])
        return format_html('<a href="{}" id="case-alert-link">{}</a>', url, _("The alert"))

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        case = case_services.open_case(
            tenant=request.tenant,  # type: ignore[attr-defined]
            title=data["title"],
            severity=data["severity"],
            severity_reason=data["severity_reason"],
            kind=data["kind"],
            data_categories=data["data_categories"],
            affected_customers=data["affected_customers"],
            discovered_at=data["discovered_at"],
            discovered_by=data["discovered_by"],
            is_drill=data["is_drill"],
            actor=cast(User, request.user),
        )
        obj.__dict__.update({k: v for k, v in case.__dict__.items() if k != "_state"})
        obj._state.adding = False

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return None  # the audit log and the case's timeline record the opening

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> Any:
        messages.success(request, _("The case %(code)s is open.") % {"code": obj.code})
        return redirect(reverse("admin:incidents_incidentcase_change", args=[obj.pk]))

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> Any:
        # Saving always opens the new case's page: one "Save" button, not three.
        extra = {"show_save_and_add_another": False, "show_save_and_continue": False}
        return super().add_view(request, form_url, {**extra, **(extra_context or {})})

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        extra = dict(extra_context or {})
        case = self.get_object(request, object_id)
        if case is not None:
            extra.update(
                {
                    "drill_badge": _drill_badge(case),
                    "moves": [(s.value, s.label) for s in case_services.allowed_moves(case)],
                    "containment_form": ContainmentForm(case=case)
                    if case.state != CaseState.CLOSED
                    else None,
                    "timeline": _timeline(case),
                    "report_rows": _report_rows(case),
                    **investigation_context(case),
                    **notice_admin.panel_context(request, case),
                    **case_more_admin.case_context(case),
                }
            )
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:case_id>/move/",
                self.admin_site.admin_view(self.move_view),
                name="incidents_incidentcase_move",
            ),
            path(
                "<int:case_id>/contain/",
                self.admin_site.admin_view(self.contain_view),
                name="incidents_incidentcase_contain",
            ),
            path(
                "<int:case_id>/reports/<int:report_id>/made/",
                self.admin_site.admin_view(self.report_made_view),
                name="incidents_incidentcase_report_made",
            ),
            *investigation_urls(self),
            *notice_admin.case_urls(self),
            *case_more_admin.case_urls(self),
            *super().get_urls(),
        ]

    def _case_or_404(self, request: HttpRequest, case_id: int) -> IncidentCase:
        case = self.get_object(request, str(case_id))
        if case is None:
            raise Http404(_("No such case."))
        return cast(IncidentCase, case)

    def move_view(self, request: HttpRequest, case_id: int) -> HttpResponse:
        case = self._case_or_404(request, case_id)
        back = redirect(reverse("admin:incidents_incidentcase_change", args=[case.pk]))
        if request.method != "POST":
            return back
        form = CaseMoveForm(request.POST)
        if not form.is_valid():
            _form_errors(request, form)
            return back
        try:
            moved = case_services.move_case(
                case=case,
                to=form.cleaned_data["to"],
                note=form.cleaned_data["note"],
                actor=cast(User, request.user),
            )
        except (ValidationError, Conflict, PermissionDenied) as error:
            refuse(request, error)
        else:
            messages.success(
                request,
                _("The case is now “%(state)s”.") % {"state": CaseState(moved.state).label},
            )
        return back

    def contain_view(self, request: HttpRequest, case_id: int) -> HttpResponse:
        case = self._case_or_404(request, case_id)
        back = redirect(reverse("admin:incidents_incidentcase_change", args=[case.pk]))
        if request.method != "POST":
            return back
        form = ContainmentForm(request.POST, case=case)
        if not form.is_valid():
            _form_errors(request, form)
            return back
        try:
            event = case_services.contain(
                case=case,
                action=form.cleaned_data["action"],
                target_id=form.cleaned_data["target_id"],
                reason=form.cleaned_data["reason"],
                actor=cast(User, request.user),
            )
        except (ValidationError, Conflict, PermissionDenied) as error:
            refuse(request, error)
        else:
            messages.success(
                request,
                _("Done: %(action)s.") % {"action": ContainmentAction(event.action).label},
            )
        return back

    def report_made_view(self, request: HttpRequest, case_id: int, report_id: int) -> HttpResponse:
        case = self._case_or_404(request, case_id)
        back = redirect(reverse("admin:incidents_incidentcase_change", args=[case.pk]))
        if request.method != "POST":
            return back
        form = ReportMadeForm(request.POST)
        if not form.is_valid():
            _form_errors(request, form)
            return back
        try:
            report = case_services.record_report(
                case=case,
                report_id=report_id,
                reference=form.cleaned_data["reference"],
                actor=cast(User, request.user),
            )
        except (ValidationError, Conflict, PermissionDenied) as error:
            refuse(request, error)
        else:
            messages.success(
                request,
                _("Recorded: %(report)s made.") % {"report": CaseReportKind(report.kind).label},
            )
        return back


@admin.register(IncidentProfile)
class IncidentProfileAdmin(TenantScopedModelAdmin):
    """The tenant's incident reporting profile: one per tenant, set by a tenant
    administrator through incidents.clocks.set_profile (audited); case managers see it."""

    list_display = ["jurisdiction", "critical_infrastructure"]
    fields = ["jurisdiction", "critical_infrastructure"]
    actions = None

    def has_module_permission(self, request: HttpRequest) -> bool:
        return case_services.may_manage_cases(request.user)  # type: ignore[arg-type]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return case_services.may_manage_cases(request.user)  # type: ignore[arg-type]

    def _may_set(self, request: HttpRequest) -> bool:
        tenant = getattr(request, "tenant", None)
        return tenant is not None and clocks.may_set_profile(
            request.user,  # type: ignore[arg-type]
            tenant.pk,
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._may_set(request) and not self.get_queryset(request).exists()

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_set(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        profile = clocks.set_profile(
            tenant=request.tenant,  # type: ignore[attr-defined]
            jurisdiction=form.cleaned_data["jurisdiction"],
            critical_infrastructure=form.cleaned_data["critical_infrastructure"],
            actor=cast(User, request.user),
        )
        obj.pk = profile.pk
        obj._state.adding = False

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return None  # the audit log records it

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return None


def _form_errors(request: HttpRequest, form: forms.Form) -> None:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else None
        text = " ".join(str(e) for e in errors)
        messages.error(request, f"{label}: {text}" if label else text)


def _promote_view(model_admin: Any, request: HttpRequest, anomaly_id: int) -> Any:
    """The anomaly page's "Promote to an incident case" (POST): open a linked case and go
    to it; a refusal goes back to the anomaly with a message."""
    return case_more_admin.promotion_view(
        model_admin,
        request,
        anomaly_id,
        promote=lambda anomaly, user: case_services.promote_anomaly(anomaly=anomaly, actor=user),
        page="admin:incidents_orderanomaly_change",
        missing=_("No such anomaly."),
    )


def anomaly_urls(model_admin: Any) -> list[Any]:
    def view(request: HttpRequest, anomaly_id: int) -> Any:
        return _promote_view(model_admin, request, anomaly_id)

    return [
        path(
            "<int:anomaly_id>/promote/",
            model_admin.admin_site.admin_view(view),
            name="incidents_orderanomaly_promote",
        )
    ]


def promotion_context(request: HttpRequest, anomaly: OrderAnomaly | None) -> dict[str, Any]:
    if anomaly is None or not case_services.may_manage_cases(request.user):  # type: ignore[arg-type]
        return {}
    with tenant_scope(anomaly.tenant):
        promoted = IncidentCase.objects.filter(anomaly=anomaly).first()
    return {"may_promote": promoted is None, "promoted_case": promoted}
