"""The follow-up panel on an order anomaly's page (incidents.anomaly_actions): call the
customer back through the relay and correct the order through the vault (wrong delivery
information), or re-make lost or damaged food as a new linked order. Post/redirect/get;
a refusal is a message on the page. Wired into OrderAnomalyAdmin by ``action_urls`` and
``action_context`` (incidents/admin.py)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import Conflict
from core.one_time import stash
from incidents.anomaly_actions import (
    CALL_KINDS,
    CORRECTION_KINDS,
    REMAKE_KINDS,
    call_customer_about,
    correct_order_information,
    is_customer_service,
    remade_order,
    remake_for_anomaly,
)
from incidents.models import OrderAnomaly
from orders.admin import INTAKE_PIN
from privacy.api import LIMITS
from tenants.admin import refuse
from tenants.models import User

_NO_ECHO = {"autocomplete": "off"}


class CorrectionForm(forms.Form):
    """What the customer confirmed on the call; an empty field stays as it is."""

    name = forms.CharField(
        label=gettext_lazy("Recipient's name"),
        max_length=LIMITS["name"],
        required=False,
        widget=forms.TextInput(attrs=_NO_ECHO),
    )
    phone = forms.CharField(
        label=gettext_lazy("Phone"),
        max_length=32,
        required=False,
        widget=forms.TextInput(attrs=_NO_ECHO),
    )
    address = forms.CharField(
        label=gettext_lazy("Delivery address"),
        max_length=LIMITS["address"],
        required=False,
        widget=forms.TextInput(attrs=_NO_ECHO),
    )
    note = forms.CharField(
        label=gettext_lazy("Delivery note"),
        max_length=LIMITS["note"],
        required=False,
        widget=forms.TextInput(attrs=_NO_ECHO),
    )
    resolve = forms.BooleanField(
        label=gettext_lazy("Resolve the anomaly as “information corrected”"),
        required=False,
        initial=True,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")  # labels above fields, as on the other panels
        super().__init__(*args, **kwargs)


def action_context(request: HttpRequest, anomaly: OrderAnomaly | None) -> dict[str, Any]:
    if anomaly is None:
        return {}
    context: dict[str, Any] = {}
    if anomaly.kind in REMAKE_KINDS:
        context["remade_order"] = remade_order(anomaly)
    if not anomaly.is_open or not is_customer_service(request.user):  # type: ignore[arg-type]
        return context
    context["may_call_customer"] = anomaly.kind in CALL_KINDS
    if anomaly.kind in CORRECTION_KINDS:
        context["correction_form"] = CorrectionForm()
    context["may_remake"] = anomaly.kind in REMAKE_KINDS and context["remade_order"] is None
    return context


def action_urls(model_admin: Any) -> list[Any]:
    def view(handler: Any) -> Any:
        def wrapped(request: HttpRequest, anomaly_id: int) -> HttpResponse:
            anomaly = model_admin.get_object(request, str(anomaly_id))
            if anomaly is None or not model_admin.has_view_permission(request, anomaly):
                raise Http404(_("No such anomaly."))
            back = redirect(reverse("admin:incidents_orderanomaly_change", args=[anomaly.pk]))
            if request.method != "POST":
                return back
            return handler(request, anomaly, back)

        return model_admin.admin_site.admin_view(wrapped)

    return [
        path(
            "<int:anomaly_id>/call-customer/",
            view(_call),
            name="incidents_orderanomaly_call_customer",
        ),
        path("<int:anomaly_id>/correct/", view(_correct), name="incidents_orderanomaly_correct"),
        path("<int:anomaly_id>/remake/", view(_remake), name="incidents_orderanomaly_remake"),
    ]


_REFUSALS = (ValidationError, Conflict, PermissionDenied)


def _call(request: HttpRequest, anomaly: OrderAnomaly, back: HttpResponse) -> HttpResponse:
    try:
        virtual = call_customer_about(anomaly=anomaly, actor=cast(User, request.user))
    except _REFUSALS as error:
        refuse(request, error)
    else:
        messages.success(
            request,
            _("Dial %(number)s: the relay connects you to the customer.") % {"number": virtual},
        )
    return back


def _correct(request: HttpRequest, anomaly: OrderAnomaly, back: HttpResponse) -> HttpResponse:
    form = CorrectionForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields else field
            messages.error(request, f"{label}: {' '.join(str(e) for e in errors)}")
        return back
    data = form.cleaned_data
    try:
        fields = correct_order_information(
            anomaly=anomaly,
            values={f: data[f] for f in ("name", "phone", "address", "note")},
            resolve=bool(data["resolve"]),
            actor=cast(User, request.user),
        )
    except ValidationError as error:
        labels = {f: str(form.fields[f].label) for f in form.fields}
        for field, texts in error.message_dict.items():
            prefix = f"{labels[field]}: " if field in labels else ""
            messages.error(request, prefix + " ".join(texts))
    except (Conflict, PermissionDenied) as error:
        refuse(request, error)
    else:
        messages.success(
            request,
            _("The order is corrected: %(fields)s.")
            % {"fields": ", ".join(str(form.fields[f].label) for f in fields)},
        )
    return back


def _remake(request: HttpRequest, anomaly: OrderAnomaly, back: HttpResponse) -> HttpResponse:
    user = cast(User, request.user)
    try:
        new = remake_for_anomaly(anomaly=anomaly, actor=user)
    except _REFUSALS as error:
        refuse(request, error)
        return back
    messages.success(
        request, _("Re-made as order %(code)s; the anomaly is resolved.") % {"code": new.order.code}
    )
    # The new order's "taken" page shows its delivery PIN once (as after intake).
    url = reverse("admin:orders_order_taken", args=[new.order.pk])
    response = redirect(url)
    stash(response, user=user, purpose=INTAKE_PIN, object_id=new.order.pk, value=new.pin, path=url)
    return response
