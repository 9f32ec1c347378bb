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
from incidents.case_admin import anomaly_urls, promotion_context  # also registers cases
from incidents.models import NOTE_MAX_LENGTH, AnomalyOutcome, OrderAnomaly
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


class OpenFilter(admin.SimpleListFilter):
    title = gettext_lazy("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("open", gettext_lazy("Open")), ("resolved", gettext_lazy("Resolved"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "open":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
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
    names = actor_names(labels, tenant_id=anomalies[0].tenant_id)
    for anomaly in anomalies:
        anomaly.people = {  # type: ignore[attr-defined]
            "reported_by": names.get(anomaly.reported_by, anomaly.reported_by),
            "resolved_by": names.get(anomaly.resolved_by, anomaly.resolved_by) or "-",
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
        "outcome",
        "note",
        "resolved_by_name",
        "resolved_at",
    ]
    readonly_fields = ["reported_by_name", "resolved_by_name"]

    @admin.display(description=gettext_lazy("reported by"))
    def reported_by_name(self, anomaly: OrderAnomaly) -> str:
        return _person(anomaly, "reported_by")

    @admin.display(description=gettext_lazy("resolved by"))
    def resolved_by_name(self, anomaly: OrderAnomaly) -> str:
        return _person(anomaly, "resolved_by")

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
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:anomaly_id>/resolve/",
                self.admin_site.admin_view(self.resolve_view),
                name="incidents_orderanomaly_resolve",
            ),
            *anomaly_urls(self),  # incidents.case_admin
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
