"""The case page's panels for issue 18's further actions (incidents/case_actions.py): the
suspensions the case imposed (lift), regrading, the tenant key rotation with its progress;
and the privacy report page's "Promote to an incident case". Every POST redirects back
(post/redirect/get); refusals are messages, as on the other panels."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import Conflict
from incidents import case_actions
from incidents import cases as case_services
from incidents.models import (
    CASE_TEXT_MAX_LENGTH,
    CaseEvent,
    CaseEventKind,
    CaseKind,
    CaseSeverity,
    CaseState,
    DataCategory,
    IncidentCase,
    PrivacyReport,
)
from tenants.admin import refuse
from tenants.models import User
from tenants.selectors import actor_names


class RegradeForm(forms.Form):
    severity = forms.ChoiceField(label=gettext_lazy("Severity"), choices=CaseSeverity.choices)
    severity_reason = forms.CharField(
        label=gettext_lazy("Reason for the new grade"),
        max_length=CASE_TEXT_MAX_LENGTH,
        help_text=gettext_lazy("Required. Do not write personal data."),
    )
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=CaseKind.choices)
    data_categories = forms.MultipleChoiceField(
        label=gettext_lazy("Affected data"),
        choices=DataCategory.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    affected_customers = forms.IntegerField(label=gettext_lazy("Affected customers"), min_value=0)
    discovered_at = forms.DateTimeField(
        label=gettext_lazy("Discovered at"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    @classmethod
    def for_case(cls, case: IncidentCase) -> RegradeForm:
        return cls(
            auto_id="regrade-%s",
            label_suffix="",
            initial={
                "severity": case.severity,
                "kind": case.kind,
                "data_categories": list(case.data_categories),
                "affected_customers": case.affected_customers,
                "discovered_at": timezone.localtime(case.discovered_at),
            },
        )


class RotationForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=CASE_TEXT_MAX_LENGTH,
        help_text=gettext_lazy("Required. Do not write personal data."),
    )


def _severity_label(code: str) -> str:
    return str(CaseSeverity(code).label) if code in CaseSeverity.values else code


def _when(value: object) -> str:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        return "—"
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def _regrade_times(times: dict[str, Any]) -> str:
    """A regrade's times, when they moved: " · discovered: A → B · report due: C → D"."""
    text = ""
    labels = (
        ("discovered_at", _("discovered: %(from)s → %(to)s")),
        ("due_at", _("authority report due: %(from)s → %(to)s")),
    )
    for key, label in labels:
        pair = times.get(key)
        if isinstance(pair, list) and len(pair) == 2 and pair[0] != pair[1]:
            text += " · " + label % {"from": _when(pair[0]), "to": _when(pair[1])}
    return text


def timeline_text(event: CaseEvent, names: dict[str, str]) -> str | None:
    """The timeline's words for this module's events (None: not one of them)."""
    if event.kind == CaseEventKind.LIFTED:
        return _("Suspension from dispatch lifted: %(user)s") % {
            "user": names.get(event.target, event.target)
        }
    if event.kind == CaseEventKind.REGRADED:
        before, _sep, after = event.target.partition(">")
        if before == after:
            text = _("Assessment changed (still “%(severity)s”)") % {
                "severity": _severity_label(after)
            }
        else:
            text = _("Regraded from “%(from)s” to “%(to)s”") % {
                "from": _severity_label(before),
                "to": _severity_label(after),
            }
        return text + _regrade_times(event.times or {})
    if event.kind == CaseEventKind.ROTATION_STARTED:
        return _("Tenant key rotation started (to version %(version)s)") % {"version": event.count}
    if event.kind == CaseEventKind.ROTATION_DONE:
        return _("Tenant key rotation done (version %(version)s)") % {"version": event.count}
    return None


def case_context(case: IncidentCase) -> dict[str, Any]:
    suspensions = case_actions.case_suspensions(case)
    now = timezone.now()
    names = actor_names([f"user:{s.user_id}" for s in suspensions], tenant_id=case.tenant_id)
    report = None
    if case.privacy_report_id is not None:
        report = reverse("admin:incidents_privacyreport_change", args=[case.privacy_report_id])
    open_case = case.state != CaseState.CLOSED
    return {
        "suspension_rows": [
            {
                "suspension": s,
                "user": names.get(f"user:{s.user_id}", s.user.username),
                "active": s.is_active_at(now),
            }
            for s in suspensions
        ],
        "regrade_form": RegradeForm.for_case(case) if open_case else None,
        "rotation_form": RotationForm(auto_id="rotation-%s", label_suffix="")
        if open_case
        else None,
        "rotation": case_actions.key_rotation_progress(case),
        "privacy_report_url": report,
    }


def _back(case: IncidentCase) -> HttpResponse:
    return redirect(reverse("admin:incidents_incidentcase_change", args=[case.pk]))


def _errors(request: HttpRequest, form: forms.Form) -> None:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else None
        text = " ".join(str(e) for e in errors)
        messages.error(request, f"{label}: {text}" if label else text)


def lift_view(model_admin: Any, request: HttpRequest, case_id: int, suspension_id: int) -> Any:
    case = model_admin._case_or_404(request, case_id)
    if request.method != "POST":
        return _back(case)
    try:
        case_actions.lift_suspension(
            case=case, suspension_id=suspension_id, actor=cast(User, request.user)
        )
    except (ValidationError, Conflict, PermissionDenied) as error:
        refuse(request, error)
    else:
        messages.success(request, _("The suspension is lifted."))
    return _back(case)


def regrade_view(model_admin: Any, request: HttpRequest, case_id: int) -> Any:
    case = model_admin._case_or_404(request, case_id)
    if request.method != "POST":
        return _back(case)
    form = RegradeForm(request.POST)
    if not form.is_valid():
        _errors(request, form)
        return _back(case)
    data = form.cleaned_data
    try:
        regraded = case_actions.regrade_case(
            case=case,
            severity=data["severity"],
            severity_reason=data["severity_reason"],
            kind=data["kind"],
            data_categories=data["data_categories"],
            affected_customers=data["affected_customers"],
            discovered_at=data["discovered_at"],
            actor=cast(User, request.user),
        )
    except (ValidationError, Conflict, PermissionDenied) as error:
        refuse(request, error)
    else:
        messages.success(
            request,
            _("The case is graded “%(severity)s”.")
            % {"severity": CaseSeverity(regraded.severity).label},
        )
    return _back(case)


def rotate_view(model_admin: Any, request: HttpRequest, case_id: int) -> Any:
    case = model_admin._case_or_404(request, case_id)
    if request.method != "POST":
        return _back(case)
    form = RotationForm(request.POST)
    if not form.is_valid():
        _errors(request, form)
        return _back(case)
    try:
        version = case_actions.start_key_rotation(
            case=case, reason=form.cleaned_data["reason"], actor=cast(User, request.user)
        )
    except (ValidationError, Conflict, PermissionDenied) as error:
        refuse(request, error)
    else:
        messages.success(
            request,
            _("The rotation to key version %(version)d is running; reload the page to follow it.")
            % {"version": version},
        )
    return _back(case)


def case_urls(model_admin: Any) -> list[Any]:
    site = model_admin.admin_site

    def lift(request: HttpRequest, case_id: int, suspension_id: int) -> Any:
        return lift_view(model_admin, request, case_id, suspension_id)

    def regrade(request: HttpRequest, case_id: int) -> Any:
        return regrade_view(model_admin, request, case_id)

    def rotate(request: HttpRequest, case_id: int) -> Any:
        return rotate_view(model_admin, request, case_id)

    return [
        path(
            "<int:case_id>/suspensions/<int:suspension_id>/lift/",
            site.admin_view(lift),
            name="incidents_incidentcase_lift",
        ),
        path(
            "<int:case_id>/regrade/",
            site.admin_view(regrade),
            name="incidents_incidentcase_regrade",
        ),
        path(
            "<int:case_id>/rotate-key/",
            site.admin_view(rotate),
            name="incidents_incidentcase_rotate_key",
        ),
    ]


# --- The privacy report page ----------------------------------------------------------------


def report_context(request: HttpRequest, report: PrivacyReport | None) -> dict[str, Any]:
    if report is None or not case_services.may_manage_cases(request.user):  # type: ignore[arg-type]
        return {}
    promoted = case_actions.case_of_report(report)
    return {"may_promote_report": promoted is None, "report_case": promoted}


def promotion_view(
    model_admin: Any,
    request: HttpRequest,
    object_id: int,
    *,
    promote: Any,
    page: str,
    missing: str,
) -> Any:
    """A "Promote to an incident case" POST on the page ``page`` (an admin URL name) of an
    anomaly or a customer's report: ``promote(obj, user)`` opens the linked case and the
    user goes to it; a refusal goes back to the page with a message; another tenant's
    object (or one the user may not view) is ``missing``, a 404."""
    obj = model_admin.get_object(request, str(object_id))
    if obj is None or not model_admin.has_view_permission(request, obj):
        raise Http404(missing)
    back = redirect(reverse(page, args=[obj.pk]))
    if request.method != "POST":
        return back
    try:
        case = promote(obj, cast(User, request.user))
    except (ValidationError, Conflict, PermissionDenied) as error:
        refuse(request, error)
        return back
    messages.success(request, _("The case %(code)s is open.") % {"code": case.code})
    return redirect(reverse("admin:incidents_incidentcase_change", args=[case.pk]))


def promote_report_view(model_admin: Any, request: HttpRequest, report_id: int) -> Any:
    return promotion_view(
        model_admin,
        request,
        report_id,
        promote=lambda report, user: case_actions.promote_privacy_report(report=report, actor=user),
        page="admin:incidents_privacyreport_change",
        missing=_("No such report."),
    )


def report_urls(model_admin: Any) -> list[Any]:
    def promote(request: HttpRequest, report_id: int) -> Any:
        return promote_report_view(model_admin, request, report_id)

    return [
        path(
            "<int:report_id>/promote/",
            model_admin.admin_site.admin_view(promote),
            name="incidents_privacyreport_promote",
        )
    ]
