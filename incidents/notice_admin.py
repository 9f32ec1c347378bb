"""The case page's "Affected customers" and "Customer notice" panels and the regulator
document (issue 18, points 1 and 3), hooked into IncidentCaseAdmin (incidents/case_admin.py)
by ``case_urls`` and ``panel_context``. Every write goes through incidents.notices; every
POST redirects back to the case (post/redirect/get) with a message. Customers are shown by
order code and a masked subject reference only: never a name, phone or address."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from audits.services import record_event
from core.errors import Conflict
from incidents import notices
from incidents.cases import may_manage_cases
from incidents.models import (
    NOTICE_CONTACT_MAX_LENGTH,
    NOTICE_TEXT_MAX_LENGTH,
    AffectedCustomer,
    CaseEvent,
    CaseEventKind,
    CaseKind,
    CaseNotice,
    CaseReport,
    CaseReportKind,
    CaseSeverity,
    DataCategory,
    DeliveryStatus,
    IncidentCase,
    NoticeDelivery,
    NoticeState,
    RemedyKind,
    RemedyStatus,
)
from tenants.admin import refuse
from tenants.models import Role, User
from tenants.roles import roles_of
from tenants.scoping import tenant_scope
from tenants.selectors import actor_names

_NO_PERSONAL_DATA = gettext_lazy("Written for every customer alike: no personal data.")


class AffectedCustomersForm(forms.Form):
    codes = forms.CharField(
        label=gettext_lazy("Order codes"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy(
            "One or more order codes, separated by spaces, commas or line breaks. If one is "
            "unknown, none is added."
        ),
    )


class RemedyForm(forms.Form):
    remedy_kind = forms.ChoiceField(label=gettext_lazy("Remedy"), choices=RemedyKind.choices)
    remedy_amount = forms.DecimalField(
        label=gettext_lazy("Amount"),
        required=False,
        min_value=0,
        max_digits=10,
        decimal_places=2,
    )
    remedy_status = forms.ChoiceField(
        label=gettext_lazy("Remedy status"), choices=RemedyStatus.choices
    )
    apology_sent = forms.BooleanField(label=gettext_lazy("Apology made"), required=False)


def _text_field(label: Any) -> forms.CharField:
    return forms.CharField(
        label=label, max_length=NOTICE_TEXT_MAX_LENGTH, help_text=_NO_PERSONAL_DATA
    )


class NoticeForm(forms.Form):
    data_categories = forms.MultipleChoiceField(
        label=gettext_lazy("Personal data concerned"),
        choices=DataCategory.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    cause_zh = _text_field(gettext_lazy("Cause (Chinese)"))
    cause_en = _text_field(gettext_lazy("Cause (English)"))
    harm_zh = _text_field(gettext_lazy("Possible harm (Chinese)"))
    harm_en = _text_field(gettext_lazy("Possible harm (English)"))
    measures_zh = _text_field(gettext_lazy("What we have done (Chinese)"))
    measures_en = _text_field(gettext_lazy("What we have done (English)"))
    advice_zh = _text_field(gettext_lazy("What the customer can do (Chinese)"))
    advice_en = _text_field(gettext_lazy("What the customer can do (English)"))
    contact = forms.CharField(
        label=gettext_lazy("Privacy contact"),
        max_length=NOTICE_CONTACT_MAX_LENGTH,
        help_text=gettext_lazy(
            "Whom customers contact: the privacy office's phone line or e-mail address."
        ),
    )


def _affected_rows(case: IncidentCase) -> list[dict[str, Any]]:
    rows = list(
        AffectedCustomer.objects.filter(case=case)
        .select_related("order")
        .order_by("added_at", "pk")
    )
    names = actor_names([r.added_by for r in rows], tenant_id=case.tenant_id)
    return [
        {
            "customer": row,
            "code": row.order.code,
            "reference": row.subject_reference,
            "added_by": names.get(row.added_by, row.added_by),
            "remedy_form": RemedyForm(
                initial={
                    "remedy_kind": row.remedy_kind,
                    "remedy_amount": row.remedy_amount,
                    "remedy_status": row.remedy_status,
                    "apology_sent": row.apology_sent,
                },
                auto_id=f"remedy-{row.pk}-%s",
            ),
        }
        for row in rows
    ]


def panel_context(request: HttpRequest, case: IncidentCase) -> dict[str, Any]:
    """What the case page's two panels need (inside the request's tenant scope)."""
    notice = CaseNotice.objects.filter(case=case).first()
    context: dict[str, Any] = {
        "affected_rows": _affected_rows(case),
        "affected_form": AffectedCustomersForm(auto_id="affected-%s"),
        "notice": notice,
        "may_approve_notice": notices.may_approve_notices(
            request.user,  # type: ignore[arg-type]
            case.tenant_id,
        ),
    }
    if notice is None or notice.state == NoticeState.DRAFT:
        initial = (
            {name: getattr(notice, name) for name in NoticeForm.base_fields}
            if notice is not None
            else notices.notice_initial(case)
        )
        context["notice_form"] = NoticeForm(initial=initial, auto_id="notice-%s")
    if notice is not None:
        context["notice_texts"] = notices.notice_texts(notice)
        context["notice_state"] = NoticeState(notice.state).label
        names = actor_names([notice.drafted_by, notice.approved_by], tenant_id=case.tenant_id)
        context["notice_drafted_by"] = names.get(notice.drafted_by, notice.drafted_by)
        context["notice_approved_by"] = names.get(notice.approved_by, notice.approved_by)
        if notice.state != NoticeState.DRAFT:
            progress = notices.delivery_progress(notice)
            context["notice_progress"] = [
                (DeliveryStatus(status).label, count)
                for status, count in progress.items()
                if count or status in (DeliveryStatus.PENDING, DeliveryStatus.SENT)
            ]
            context["notice_failed"] = [
                {
                    "code": d.customer.order.code,
                    "reference": d.customer.subject_reference,
                    "attempts": d.attempts,
                    "error": d.error,
                }
                for d in NoticeDelivery.objects.filter(
                    notice=notice, status=DeliveryStatus.FAILED
                ).select_related("customer__order")
            ]
    return context


def _back(case: IncidentCase) -> HttpResponse:
    return redirect(reverse("admin:incidents_incidentcase_change", args=[case.pk]) + "#affected")


def _form_errors(request: HttpRequest, form: forms.Form) -> None:
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else None
        text = " ".join(str(e) for e in errors)
        messages.error(request, f"{label}: {text}" if label else text)


def case_urls(model_admin: Any) -> list[Any]:
    """The panels' POST endpoints and the regulator document, under a case's admin URL."""

    def case_of(request: HttpRequest, case_id: int) -> IncidentCase:
        case = model_admin.get_object(request, str(case_id))
        if case is None:
            raise Http404(_("No such case."))
        return cast(IncidentCase, case)

    def add_customers(request: HttpRequest, case_id: int) -> HttpResponse:
        case = case_of(request, case_id)
        if request.method != "POST":
            return _back(case)
        form = AffectedCustomersForm(request.POST)
        if not form.is_valid():
            _form_errors(request, form)
            return _back(case)
        try:
            added = notices.add_affected_customers(
                case=case, codes=form.cleaned_data["codes"], actor=cast(User, request.user)
            )
        except (ValidationError, Conflict, PermissionDenied) as error:
            refuse(request, error)
            return _back(case)
        if added.added:
            messages.success(
                request,
                ngettext(
                    "%(count)d affected customer linked.",
                    "%(count)d affected customers linked.",
                    len(added.added),
                )
                % {"count": len(added.added)},
            )
        if added.already:
            messages.warning(
                request,
                _("Already linked, not added again: %(codes)s")
                % {"codes": ", ".join(added.already)},
            )
        return _back(case)

    def remedy(request: HttpRequest, case_id: int, customer_id: int) -> HttpResponse:
        case = case_of(request, case_id)
        if request.method != "POST":
            return _back(case)
        form = RemedyForm(request.POST)
        if not form.is_valid():
            _form_errors(request, form)
            return _back(case)
        try:
            notices.set_remedy(
                case=case,
                customer_id=customer_id,
                remedy_kind=form.cleaned_data["remedy_kind"],
                remedy_amount=form.cleaned_data["remedy_amount"],
                remedy_status=form.cleaned_data["remedy_status"],
                apology_sent=form.cleaned_data["apology_sent"],
                actor=cast(User, request.user),
            )
        except (ValidationError, Conflict, PermissionDenied) as error:
            refuse(request, error)
        else:
            messages.success(request, _("The remedy is saved."))
        return _back(case)

    def save_notice(request: HttpRequest, case_id: int) -> HttpResponse:
        case = case_of(request, case_id)
        if request.method != "POST":
            return _back(case)
        form = NoticeForm(request.POST)
        if not form.is_valid():
            _form_errors(request, form)
            return _back(case)
        try:
            notices.save_notice(case=case, values=form.cleaned_data, actor=cast(User, request.user))
        except (ValidationError, Conflict, PermissionDenied) as error:
            refuse(request, error)
        else:
            messages.success(request, _("The notice is saved. Check the preview below."))
        return _back(case)

    def approve_notice(request: HttpRequest, case_id: int) -> HttpResponse:
        case = case_of(request, case_id)
        if request.method != "POST":
            return _back(case)
        try:
            notices.approve_notice(case=case, actor=cast(User, request.user))
        except (ValidationError, Conflict, PermissionDenied) as error:
            refuse(request, error)
        else:
            messages.success(
                request,
                _("The notice is approved; it is being sent to the affected customers.")
                if not case.is_drill
                else _("The notice is approved. This case is a drill: nothing is sent."),
            )
        return _back(case)

    def retry_notice(request: HttpRequest, case_id: int) -> HttpResponse:
        case = case_of(request, case_id)
        if request.method != "POST":
            return _back(case)
        try:
            count = notices.retry_failed(case=case, actor=cast(User, request.user))
        except (ValidationError, Conflict, PermissionDenied) as error:
            refuse(request, error)
        else:
            messages.success(
                request,
                ngettext(
                    "%(count)d failed text is being sent again.",
                    "%(count)d failed texts are being sent again.",
                    count,
                )
                % {"count": count},
            )
        return _back(case)

    def document(request: HttpRequest, case_id: int) -> HttpResponse:
        case = case_of(request, case_id)
        return regulator_document(request, case)

    view = model_admin.admin_site.admin_view
    return [
        path(
            "<int:case_id>/affected/",
            view(add_customers),
            name="incidents_incidentcase_affected_add",
        ),
        path(
            "<int:case_id>/affected/<int:customer_id>/remedy/",
            view(remedy),
            name="incidents_incidentcase_remedy",
        ),
        path("<int:case_id>/notice/", view(save_notice), name="incidents_incidentcase_notice"),
        path(
            "<int:case_id>/notice/approve/",
            view(approve_notice),
            name="incidents_incidentcase_notice_approve",
        ),
        path(
            "<int:case_id>/notice/retry/",
            view(retry_notice),
            name="incidents_incidentcase_notice_retry",
        ),
        path(
            "<int:case_id>/regulator-document/",
            view(document),
            name="incidents_incidentcase_regulator_document",
        ),
    ]


# --- The regulator document --------------------------------------------------------------


def _people(labels: list[str], tenant_id: int) -> dict[str, str]:
    """Actor labels → "username (roles)" for the tenant's users; others as actor_names."""
    names = actor_names(labels, tenant_id=tenant_id)
    ids = {
        int(rest)
        for kind, _sep, rest in (label.partition(":") for label in labels)
        if kind == "user" and rest.isascii() and rest.isdigit()
    }
    users = {u.pk: u for u in User.objects.filter(pk__in=ids, tenant_id=tenant_id)}
    people = {}
    for label in set(labels):
        kind, _sep, rest = label.partition(":")
        user = (
            users.get(int(rest)) if kind == "user" and rest.isascii() and rest.isdigit() else None
        )
        if user is None:
            people[label] = names.get(label, label)
            continue
        roles = ", ".join(str(Role(r).label) for r in sorted(roles_of(user)))
        people[label] = f"{user.username} ({roles})" if roles else user.username
    return people


def document_context(case: IncidentCase) -> dict[str, Any]:
    """The regulator document's content: facts about the case, counts, the timeline and
    the notice's template, never a customer's data (not even an order code)."""
    from incidents.case_admin import _timeline  # the case page's own timeline wording

    events = list(CaseEvent.objects.filter(case=case).order_by("at", "pk"))
    people = _people([e.actor for e in events] + [case.opened_by], case.tenant_id)
    timeline = _timeline(case)
    for row, event in zip(timeline, events, strict=False):
        row["actor"] = people.get(event.actor, row["actor"])
    notice = CaseNotice.objects.filter(case=case).first()
    affected = AffectedCustomer.objects.filter(case=case)
    reports = [
        {
            "label": CaseReportKind(r.kind).label,
            "due_at": r.due_at,
            "made_at": r.made_at,
            "reference": r.reference,
            # Once overdue, always shown so: a later regrade never hides it.
            "overdue_at": r.overdue_at,
            "first_due_at": r.first_due_at,
            "withdrawn_at": r.withdrawn_at,
        }
        for r in CaseReport.objects.filter(case=case).order_by("due_at", "pk")
    ]
    regrades = [
        row
        for row, event in zip(timeline, events, strict=False)
        if event.kind == CaseEventKind.REGRADED
    ]
    return {
        "case": case,
        "tenant_name": case.tenant.name,
        "severity": CaseSeverity(case.severity).label,
        "kind": CaseKind(case.kind).label,
        "categories": [DataCategory(c).label for c in case.data_categories],
        "declared": case.affected_customers,
        "linked": affected.count(),
        "notified": affected.filter(notified_at__isnull=False).count(),
        "opened_by": people.get(case.opened_by, case.opened_by),
        "timeline": timeline,
        "reports": reports,
        "regrades": regrades,
        "notice": notice,
        "notice_state": NoticeState(notice.state).label if notice else "",
        "notice_texts": notices.notice_texts(notice) if notice else None,
    }


def regulator_document(request: HttpRequest, case: IncidentCase) -> HttpResponse:
    """The printable regulator document of ``case``: case managers only (others: 404, as
    for the case itself); each production audited
    (``incidents.regulator_document_produced``)."""
    if not may_manage_cases(request.user, case.tenant_id):  # type: ignore[arg-type]
        raise Http404(_("No such case."))
    with tenant_scope(case.tenant):
        context = document_context(case)
        record_event(
            tenant=case.tenant,
            actor=cast(User, request.user),
            action="incidents.regulator_document_produced",
            target=case,
            details={"case": case.pk, "drill": case.is_drill},
        )
        response = TemplateResponse(request, "incidents/regulator_document.html", context)
        response.render()
    response["Cache-Control"] = "no-store"
    return response
