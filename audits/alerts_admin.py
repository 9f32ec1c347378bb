"""The back office's anomalous-access alerts (issue 20, point 2): the list (filters by state,
rule, person, and the dashboard's ``since``/``until``), an alert's page listing the events
that fired it (readable, as the audit log shows them: ``audits.admin.describe``), its
actions — acknowledge, dismiss with a reason, promote to an incident case — and the
thresholds' page. For supervisors, privacy officers and tenant administrators of the tenant;
another tenant's alert is a 404.

Each action is a POST that redirects on success (the alert's page; a promotion goes to the
new case) and otherwise answers the alert's page with the error: 400 naming the field, 409
naming the state (or the case a second promotion would repeat).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audits.admin import KnownValueFilter, action_html, describe
from audits.alert_panels import STALE_AFTER
from audits.alert_rules import rule_choices, rule_label
from audits.alert_signals import forget_thresholds
from audits.alerts import (
    THRESHOLD_FIELDS,
    acknowledge_alert,
    alert_for,
    alert_promoter,
    case_url,
    change_supervision_settings,
    dismiss_alert,
    may_change_thresholds,
    may_supervise,
    promote_alert,
)
from audits.hours import settings_for
from audits.list_filters import parse_day
from audits.models import (
    LIVE_ALERT_STATES,
    AccessAlert,
    AlertState,
    AuditEvent,
    SupervisionSettings,
)
from core.errors import Conflict
from tenants.admin import ReadOnlyAdminMixin, TenantScopedModelAdmin
from tenants.models import User

#: The events an alert's page lists (the newest; the count says how many there are).
EVENTS_SHOWN = 100


class RuleFilter(KnownValueFilter):
    title = gettext_lazy("rule")
    parameter_name = "rule"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return rule_choices()

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(rule=self.value()) if self.value() else queryset


class StateFilter(KnownValueFilter):
    title = gettext_lazy("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, str(label)) for value, label in AlertState.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(state=self.value()) if self.value() else queryset


class PersonFilter(KnownValueFilter):
    """The users the tenant's alerts concern (one bounded query), by username."""

    title = gettext_lazy("person")
    parameter_name = "user"
    LIMIT = 200

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        tenant = getattr(request, "tenant", None)
        if tenant is None:
            return []
        ids = (
            AccessAlert.objects.filter(tenant=tenant, user__isnull=False)
            .values_list("user_id", flat=True)
            .distinct()[: self.LIMIT]
        )
        users = User.objects.filter(pk__in=list(ids), tenant=tenant).order_by("username")
        return [(str(pk), name) for pk, name in users.values_list("pk", "username")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(user_id=int(self.value())) if self.value() else queryset  # type: ignore[arg-type]


PERIOD_PARAMS = ("since", "until", "stale")


class AlertChangeList(ChangeList):
    """The dashboard's ``since``/``until`` (local dates, included) are read by the admin's
    queryset, not taken for field lookups."""

    def get_filters_params(self, params: Any = None) -> Any:
        lookup = super().get_filters_params(params)
        for name in PERIOD_PARAMS:
            lookup.pop(name, None)
        return lookup


class SettingsForm(forms.ModelForm):
    class Meta:
        model = SupervisionSettings
        fields = list(THRESHOLD_FIELDS)
        widgets = {
            "workday_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "workday_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }


@admin.register(AccessAlert)
class AccessAlertAdmin(ReadOnlyAdminMixin, TenantScopedModelAdmin):
    list_display = [
        "rule_display",
        "person_display",
        "state_display",
        "event_count",
        "last_seen_at",
        "first_seen_at",
    ]
    list_display_links = ["rule_display"]
    list_filter = [StateFilter, RuleFilter, PersonFilter]
    actions = None
    show_full_result_count = False

    class Media:
        css = {"all": ["baomi/audit.css", "baomi/alerts.css"]}

    # --- who ---

    def has_module_permission(self, request: HttpRequest) -> bool:
        return may_supervise(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return may_supervise(request.user)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request).select_related("user", "token")
        if not may_supervise(request.user):
            return queryset.none()
        # Nobody handles, or reads, the alert about their own access (alerts.alert_for).
        queryset = queryset.exclude(user_id=request.user.pk)
        if request.GET.get("stale") == "yes":  # the §6.1.2 indicator's list
            queryset = queryset.filter(opened_at__lt=timezone.now() - STALE_AFTER)
        since, until = parse_day(request.GET.get("since")), parse_day(request.GET.get("until"))
        if since is not None:
            start = timezone.make_aware(datetime.combine(since, time.min))
            queryset = queryset.filter(last_seen_at__gte=start)
        if until is not None:
            end = timezone.make_aware(datetime.combine(until + timedelta(days=1), time.min))
            queryset = queryset.filter(first_seen_at__lt=end)
        return queryset

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return AlertChangeList

    # --- columns ---

    @admin.display(description=gettext_lazy("rule"), ordering="rule")
    def rule_display(self, alert: AccessAlert) -> str:
        return rule_label(alert.rule)

    @admin.display(description=gettext_lazy("person"))
    def person_display(self, alert: AccessAlert) -> str:
        return person_label(alert)

    @admin.display(description=gettext_lazy("state"), ordering="state")
    def state_display(self, alert: AccessAlert) -> Any:
        return format_html(
            '<span class="baomi-alert-state baomi-alert-state-{}" data-state="{}">{}</span>',
            alert.state,
            alert.state,
            AlertState(alert.state).label,
        )

    # --- pages ---

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("settings/", wrap(self.settings_view), name="audits_accessalert_settings"),
            path(
                "<int:alert_id>/acknowledge/",
                wrap(self.acknowledge_view),
                name="audits_accessalert_acknowledge",
            ),
            path(
                "<int:alert_id>/dismiss/",
                wrap(self.dismiss_view),
                name="audits_accessalert_dismiss",
            ),
            path(
                "<int:alert_id>/promote/",
                wrap(self.promote_view),
                name="audits_accessalert_promote",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        extra = {
            **(extra_context or {}),
            "settings_url": reverse("admin:audits_accessalert_settings"),
        }
        return super().changelist_view(request, extra)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        alert = alert_for(request.user, object_id)  # type: ignore[arg-type]
        return self._page(request, alert)

    def _page(
        self,
        request: HttpRequest,
        alert: AccessAlert,
        *,
        error: str = "",
        field_errors: dict[str, list[str]] | None = None,
        status: int = 200,
        reason: str = "",
    ) -> TemplateResponse:
        events = list(
            AuditEvent.objects.filter(
                tenant_id=alert.tenant_id, pk__in=alert.links.values("event_id")
            ).order_by("-occurred_at", "-sequence")[:EVENTS_SHOWN]
        )
        describe(events)
        rows = [
            {
                "at": event.occurred_at,
                "actor": event.display.actor,
                "action": action_html(event.action),
                "object": event.display.object,
                "purpose": event.display.purpose,
                "url": reverse("admin:audits_auditevent_change", args=[event.pk]),
            }
            for event in events
        ]
        live = alert.state in LIVE_ALERT_STATES
        context = {
            **self.admin_site.each_context(request),
            "title": _("Alert: %(rule)s") % {"rule": rule_label(alert.rule)},
            "opts": self.model._meta,
            "alert": alert,
            "rule": rule_label(alert.rule),
            "person": person_label(alert),
            "state_label": AlertState(alert.state).label,
            "rows": rows,
            "shown": len(rows),
            "may_acknowledge": alert.state == AlertState.OPEN,
            "may_close": live,
            "may_promote": live and alert_promoter() is not None,
            "case_url": case_url(alert),
            "error": error,
            "field_errors": field_errors or {},
            "reason": reason,
            "list_url": reverse("admin:audits_accessalert_changelist"),
            "acknowledged_by": alert.acknowledged_by.username if alert.acknowledged_by else "",
            "closed_by": alert.closed_by.username if alert.closed_by else "",
        }
        return TemplateResponse(
            request, "admin/audits/accessalert/detail.html", context, status=status
        )

    def _act(self, request: HttpRequest, alert_id: int, act: Any) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        alert = alert_for(request.user, alert_id)  # type: ignore[arg-type]
        try:
            return cast(HttpResponse, act(alert))
        except ValidationError as error:
            fields = error.message_dict if hasattr(error, "error_dict") else {"": error.messages}
            alert = alert_for(request.user, alert_id)  # type: ignore[arg-type]
            reason = request.POST.get("reason", "")
            return self._page(
                request,
                alert,
                error=" ".join(m for ms in fields.values() for m in ms),
                field_errors=fields,
                status=400,
                reason=reason[:600],
            )
        except Conflict as error:
            alert = alert_for(request.user, alert_id)  # type: ignore[arg-type]
            return self._page(request, alert, error=error.message, status=409)

    def acknowledge_view(self, request: HttpRequest, alert_id: int) -> HttpResponse:
        def act(alert: AccessAlert) -> HttpResponse:
            acknowledge_alert(alert=alert, actor=cast(User, request.user))
            messages.success(request, _("The alert is acknowledged."))
            return redirect(reverse("admin:audits_accessalert_change", args=[alert.pk]))

        return self._act(request, alert_id, act)

    def dismiss_view(self, request: HttpRequest, alert_id: int) -> HttpResponse:
        def act(alert: AccessAlert) -> HttpResponse:
            dismiss_alert(
                alert=alert, actor=cast(User, request.user), reason=request.POST.get("reason", "")
            )
            messages.success(request, _("The alert is dismissed."))
            return redirect(reverse("admin:audits_accessalert_change", args=[alert.pk]))

        return self._act(request, alert_id, act)

    def promote_view(self, request: HttpRequest, alert_id: int) -> HttpResponse:
        def act(alert: AccessAlert) -> HttpResponse:
            promoted = promote_alert(alert=alert, actor=cast(User, request.user))
            messages.success(
                request, _("The case %(code)s is open.") % {"code": promoted.case_code}
            )
            return redirect(
                case_url(promoted) or reverse("admin:audits_accessalert_change", args=[alert.pk])
            )

        return self._act(request, alert_id, act)

    def settings_view(self, request: HttpRequest) -> HttpResponse:
        """The thresholds and working hours: shown to supervisors, changed by a tenant
        administrator or a privacy officer (a 400 names the field)."""
        tenant = getattr(request, "tenant", None)
        if tenant is None or not may_supervise(request.user, tenant.pk):
            raise Http404(_("No such page."))
        editable = may_change_thresholds(request.user, tenant.pk)
        current = settings_for(tenant)
        status = 200
        if request.method == "POST":
            if not editable:
                raise PermissionDenied(
                    _("Only a tenant administrator or a privacy officer changes the thresholds.")
                )
            form = SettingsForm(request.POST, instance=SupervisionSettings(tenant=tenant))
            if form.is_valid():
                values = {name: form.cleaned_data[name] for name in THRESHOLD_FIELDS}
                try:
                    change_supervision_settings(
                        tenant=tenant, actor=cast(User, request.user), values=values
                    )
                except ValidationError as error:
                    for name, errors in error.message_dict.items():
                        for message in errors:
                            form.add_error(name if name in form.fields else None, message)
                else:
                    forget_thresholds(tenant.pk)
                    messages.success(request, _("The thresholds are saved."))
                    return redirect(reverse("admin:audits_accessalert_settings"))
            status = 400
        else:
            form = SettingsForm(instance=current)
        if not editable:
            for field in form.fields.values():
                field.disabled = True
        context = {
            **self.admin_site.each_context(request),
            "title": _("Alert thresholds and working hours"),
            "opts": self.model._meta,
            "form": form,
            "editable": editable,
            "list_url": reverse("admin:audits_accessalert_changelist"),
            "time_zone": tenant.time_zone,
        }
        return TemplateResponse(
            request, "admin/audits/accessalert/settings.html", context, status=status
        )


def person_label(alert: AccessAlert) -> str:
    if alert.user is not None:
        return alert.user.username
    if alert.token is not None:
        return _("Integration token: %(name)s") % {"name": alert.token.name}
    return alert.person
