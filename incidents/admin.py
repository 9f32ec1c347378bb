"""Order anomalies in the back office: open ones first, filtered by kind and by open or
resolved; customer service and tenant administrators resolve one on its page (an outcome
and a short note, post/redirect/get); supervisors and the others see the outcome and the
note."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import Conflict
from incidents import case_more_admin
from incidents.anomaly_action_admin import action_context, action_urls
from incidents.assignment_admin import assignment_context, assignment_urls
from incidents.case_admin import anomaly_urls, promotion_context  # also registers cases
from incidents.models import NOTE_MAX_LENGTH, AnomalyOutcome, AnomalyState, OrderAnomaly
from incidents.services import may_resolve_anomalies, resolve_anomaly
from tenants.admin import ReadOnlyAdminMixin, TenantScopedModelAdmin, refuse
from tenants.models import User
from tenants.selectors import actor_names


class ResolveForm(forms.Form):
    outcome = forms.ChoiceField(label=gettext_lazy("Outcome"), choices=AnomalyOutcome.choices)
    note = forms.CharField(
        label=gettext_lazy("Note"),
        max_length=NOTE_MAX_LENGTH,
        required=False,
        help_text=gettext_lazy(
            "What was done, in a few words. Do not write personal data: no names, phone "
            "numbers or addresses."
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")  # labels above fields, as on the other panels
        super().__init__(*args, **kwargs)


class OpenFilter(admin.SimpleListFilter):
    title = gettext_lazy("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("open", gettext_lazy("Open")),
            ("unassigned", gettext_lazy("Open, not assigned")),  # workflow (assignment)
            ("assigned", gettext_lazy("Assigned")),
            ("resolved", gettext_lazy("Resolved")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "open":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        if self.value() in ("unassigned", "assigned"):
            unassigned = queryset.filter(resolved_at__isnull=True, assigned_to="")
            if self.value() == "unassigned":
                return unassigned
            return queryset.filter(resolved_at__isnull=True).exclude(assigned_to="")
        return queryset


class AnomalyChangeList(ChangeList):
    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        _name_people(list(self.result_list))


def _name_people(anomalies: list[OrderAnomaly]) -> None:
    """Who reported and resolved each anomaly, by username (one query for the page)."""
    if not anomalies:
        return
    labels = [a.reported_by for a in anomalies] + [a.resolved_by for a in anomalies]
    labels += [a.assigned_to for a in anomalies]
    names = actor_names(labels, tenant_id=anomalies[0].tenant_id)
    for anomaly in anomalies:
        anomaly.people = {  # type: ignore[attr-defined]
            "reported_by": names.get(anomaly.reported_by, anomaly.reported_by),
            "resolved_by": names.get(anomaly.resolved_by, anomaly.resolved_by) or "-",
            "assigned_to": names.get(anomaly.assigned_to, anomaly.assigned_to) or "-",
        }


def _person(anomaly: OrderAnomaly, which: str) -> str:
    if not hasattr(anomaly, "people"):
        _name_people([anomaly])
    return cast(str, anomaly.people[which])  # type: ignore[attr-defined]


@admin.register(OrderAnomaly)
class OrderAnomalyAdmin(ReadOnlyAdminMixin, TenantScopedModelAdmin):
    list_display = [
        "reported_at",
        "order",
        "kind",
        "reported_by_name",
        "state_display",
        "assigned_to_name",
        "resolved_at",
        "outcome",
    ]
    list_filter = [OpenFilter, "kind"]
    list_select_related = ["order"]
    fields = [
        "order",
        "kind",
        "reported_by_name",
        "reported_at",
        "state_display",
        "assigned_to_name",
        "assigned_at",
        "outcome",
        "note",
        "resolved_by_name",
        "resolved_at",
    ]
    readonly_fields = ["reported_by_name", "resolved_by_name", "state_display", "assigned_to_name"]

    @admin.display(description=gettext_lazy("reported by"))
    def reported_by_name(self, anomaly: OrderAnomaly) -> str:
        return _person(anomaly, "reported_by")

    @admin.display(description=gettext_lazy("resolved by"))
    def resolved_by_name(self, anomaly: OrderAnomaly) -> str:
        return _person(anomaly, "resolved_by")

    @admin.display(description=gettext_lazy("state"))
    def state_display(self, anomaly: OrderAnomaly) -> str:
        return str(AnomalyState(anomaly.workflow_state).label)

    @admin.display(description=gettext_lazy("assigned to"))
    def assigned_to_name(self, anomaly: OrderAnomaly) -> str:
        return _person(anomaly, "assigned_to")

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> Any:
        return AnomalyChangeList

    change_form_template = "admin/incidents/orderanomaly/change_form.html"
    actions = None

    def get_ordering(self, request: HttpRequest) -> Any:
        # Open anomalies first, then the most recently reported.
        return [F("resolved_at").desc(nulls_first=True), "-reported_at"]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        extra = dict(extra_context or {})
        anomaly = self.get_object(request, object_id)
        if (
            anomaly is not None and anomaly.is_open and may_resolve_anomalies(request.user)  # type: ignore[arg-type]
        ):
            extra["resolve_form"] = ResolveForm()
        extra.update(promotion_context(request, anomaly))  # incidents.case_admin
        extra.update(action_context(request, anomaly))  # incidents.anomaly_action_admin
        extra.update(assignment_context(request, anomaly))  # incidents.assignment_admin
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:anomaly_id>/resolve/",
                self.admin_site.admin_view(self.resolve_view),
                name="incidents_orderanomaly_resolve",
            ),
            *anomaly_urls(self),  # incidents.case_admin
            *action_urls(self),  # incidents.anomaly_action_admin
            *assignment_urls(self),  # incidents.assignment_admin
            *super().get_urls(),
        ]

    def resolve_view(self, request: HttpRequest, anomaly_id: int) -> HttpResponse:
        anomaly = self.get_object(request, str(anomaly_id))
        if anomaly is None or not self.has_view_permission(request, anomaly):
            raise Http404(_("No such anomaly."))
        back = redirect(reverse("admin:incidents_orderanomaly_change", args=[anomaly.pk]))
        if request.method != "POST":
            return back
        form = ResolveForm(request.POST)
        if not form.is_valid():
            for field, errors in form.errors.items():
                label = form.fields[field].label if field in form.fields else field
                messages.error(request, f"{label}: {' '.join(str(e) for e in errors)}")
            return back
        try:
            resolve_anomaly(
                anomaly=anomaly,
                outcome=form.cleaned_data["outcome"],
                note=form.cleaned_data["note"],
                actor=cast(User, request.user),
            )
        except (ValidationError, Conflict, PermissionDenied) as error:
            refuse(request, error)
        else:
            messages.success(request, _("The anomaly is resolved."))
        return back


# --- Customers' privacy reports (§6.2) --------------------------------------------------
# Customer service and privacy officers triage, answer and close reports on the report's page
# (post/redirect/get, audited); supervisors see them read-only. The customer's description
# is sealed: it is shown through the vault's audited reveal, for this page view only.

from django.template.response import TemplateResponse  # noqa: E402

from incidents.models import ANSWER_MAX_LENGTH, PrivacyReport, ReportStatus  # noqa: E402
from incidents.reports import (  # noqa: E402
    MOVES,
    answer_report,
    may_triage_reports,
    move_report,
)
from orders.admin import issue_reveal_nonce, spend_reveal_nonce  # noqa: E402
from privacy.api import (  # noqa: E402
    DecryptionIntegrityError,
    KeyRetiredError,
    Purpose,
    RevealDenied,
    SubjectErasedError,
    refusal_html,
    reveal,
)
from tenants.models import Role  # noqa: E402
from tenants.roles import has_role  # noqa: E402


class AnswerForm(forms.Form):
    answer = forms.CharField(
        label=gettext_lazy("Answer to the customer"),
        max_length=ANSWER_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=gettext_lazy(
            "The customer reads this on the status page. Do not write personal data: no "
            "names, phone numbers or addresses."
        ),
    )


class OverdueFilter(admin.SimpleListFilter):
    title = gettext_lazy("deadline")
    parameter_name = "deadline"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        # "open": received or in progress, the dashboard's count (issue 20).
        return [("overdue", gettext_lazy("Overdue")), ("open", gettext_lazy("Open"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "open":
            return queryset.filter(status__in=[ReportStatus.RECEIVED, ReportStatus.IN_PROGRESS])
        if self.value() == "overdue":
            from django.utils import timezone

            return queryset.filter(
                status__in=[ReportStatus.RECEIVED, ReportStatus.IN_PROGRESS],
                due_at__lt=timezone.now(),
            )
        return queryset


def _reveal_purpose(user: User) -> str:
    if has_role(user, Role.PRIVACY_OFFICER):
        return Purpose.INCIDENT_INVESTIGATION
    return Purpose.CUSTOMER_SERVICE_CALL


@admin.register(PrivacyReport)
class PrivacyReportAdmin(ReadOnlyAdminMixin, TenantScopedModelAdmin):
    list_display = ["received_at", "order_code", "kind", "status", "due_at", "overdue"]
    list_filter = ["status", OverdueFilter, "kind"]
    list_select_related = ["order"]
    fields = [
        "order",
        "kind",
        "status",
        "received_at",
        "due_at",
        "overdue",
        "description_state",
        "answer",
        "answered_by_name",
        "answered_at",
        "closed_at",
    ]
    readonly_fields = ["overdue", "description_state", "answered_by_name"]
    change_form_template = "admin/incidents/privacyreport/change_form.html"
    actions = None

    def get_ordering(self, request: HttpRequest) -> Any:
        return ["due_at"]

    @admin.display(description=gettext_lazy("order code"), ordering="order__code")
    def order_code(self, report: PrivacyReport) -> str:
        return report.order.code

    @admin.display(description=gettext_lazy("overdue"), boolean=True)
    def overdue(self, report: PrivacyReport) -> bool:
        return report.is_overdue

    @admin.display(description=gettext_lazy("description"))
    def description_state(self, report: PrivacyReport) -> str:
        if bytes(report.description_ct or b""):
            return _("Sealed: reveal it below (audited).")
        return _("None given")

    @admin.display(description=gettext_lazy("answered by"))
    def answered_by_name(self, report: PrivacyReport) -> str:
        if not report.answered_by:
            return "-"
        names = actor_names([report.answered_by], tenant_id=report.tenant_id)
        return names.get(report.answered_by, report.answered_by)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        extra = dict(extra_context or {})
        report = self.get_object(request, object_id)
        user = request.user
        if report is not None and may_triage_reports(user):  # type: ignore[arg-type]
            status = ReportStatus(report.status)
            if status != ReportStatus.CLOSED:
                extra["answer_form"] = AnswerForm(initial={"answer": report.answer})
            extra["moves"] = [(s.value, s.label) for s in MOVES[status]]
            if bytes(report.description_ct or b""):
                extra["reveal_nonce"] = issue_reveal_nonce(request, f"report-{report.pk}")
        extra.update(case_more_admin.report_context(request, report))
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:report_id>/answer/",
                self.admin_site.admin_view(self.answer_view),
                name="incidents_privacyreport_answer",
            ),
            path(
                "<int:report_id>/move/",
                self.admin_site.admin_view(self.move_view),
                name="incidents_privacyreport_move",
            ),
            path(
                "<int:report_id>/reveal/",
                self.admin_site.admin_view(self.reveal_view),
                name="incidents_privacyreport_reveal",
            ),
            *case_more_admin.report_urls(self),
            *super().get_urls(),
        ]

    def _report(self, request: HttpRequest, report_id: int) -> PrivacyReport:
        report = self.get_object(request, str(report_id))
        if report is None or not self.has_view_permission(request, report):
            raise Http404(_("No such report."))
        return report

    def _back(self, report: PrivacyReport) -> HttpResponse:
        return redirect(reverse("admin:incidents_privacyreport_change", args=[report.pk]))

    def answer_view(self, request: HttpRequest, report_id: int) -> HttpResponse:
        report = self._report(request, report_id)
        if request.method != "POST":
            return self._back(report)
        form = AnswerForm(request.POST)
        if not form.is_valid():
            for errors in form.errors.values():
                messages.error(request, " ".join(str(e) for e in errors))
            return self._back(report)
        try:
            answer_report(
                report=report, answer=form.cleaned_data["answer"], actor=cast(User, request.user)
            )
        except (ValidationError, Conflict, PermissionDenied) as error:
            refuse(request, error)
        else:
            messages.success(
                request, _("The answer is saved; the customer sees it on the status page.")
            )
        return self._back(report)

    def move_view(self, request: HttpRequest, report_id: int) -> HttpResponse:
        report = self._report(request, report_id)
        if request.method != "POST":
            return self._back(report)
        try:
            moved = move_report(
                report=report,
                status=request.POST.get("status", ""),
                actor=cast(User, request.user),
            )
        except (ValidationError, Conflict, PermissionDenied) as error:
            refuse(request, error)
        else:
            messages.success(
                request,
                _("The report is now: %(status)s.") % {"status": moved.get_status_display()},
            )
        return self._back(report)

    def reveal_view(self, request: HttpRequest, report_id: int) -> HttpResponse:
        report = self._report(request, report_id)
        user = cast(User, request.user)
        if request.method != "POST":
            return self._back(report)
        if not may_triage_reports(user):
            refuse(request, PermissionDenied(_("You may not read this description.")))
            return self._back(report)
        if not spend_reveal_nonce(
            request, f"report-{report.pk}", request.POST.get("reveal_nonce", "")
        ):
            messages.warning(
                request, _("This reveal was already shown; reveal again if you need it.")
            )
            return self._back(report)
        purpose = _reveal_purpose(user)
        try:
            values = reveal(report, fields=["description"], actor=user, purpose=purpose)
        except (RevealDenied, PermissionDenied) as error:
            messages.error(request, refusal_html(error))
            return self._back(report)
        except SubjectErasedError:
            messages.error(request, _("This customer's personal data has been erased."))
            return self._back(report)
        except (DecryptionIntegrityError, KeyRetiredError):
            messages.error(
                request, _("The stored data could not be opened; the failure was recorded.")
            )
            return self._back(report)
        response = TemplateResponse(
            request,
            "admin/incidents/privacyreport/reveal.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": report,
                "report": report,
                "description": values["description"],
                "purpose": Purpose(purpose).label,
                "title": _("Revealed for this view only"),
            },
        )
        response["Cache-Control"] = "no-store"
        return response
