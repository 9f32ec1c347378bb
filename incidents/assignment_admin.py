"""The anomaly page's assignment panel (issue 18, point 4: open -> assigned -> resolved):
"Assign to me" and "Assign to …" (customer service and tenant administrators of the tenant),
posted, audited by the service, then back to the anomaly (post/redirect/get). Another
tenant's anomaly is a 404; a refusal is the admin's error message."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.translation import gettext as _

from core.errors import Conflict
from incidents.models import OrderAnomaly
from incidents.services import assign_anomaly, assignable_users, may_assign_anomalies
from tenants.admin import refuse
from tenants.models import User


def assignment_context(request: HttpRequest, anomaly: OrderAnomaly | None) -> dict[str, Any]:
    """The panel's context: the people it can go to, for those who may assign."""
    user = request.user
    if anomaly is None or not anomaly.is_open or not may_assign_anomalies(user):  # type: ignore[arg-type]
        return {}
    people = assignable_users(anomaly.tenant_id)
    return {
        "assign_people": [p for p in people if p.pk != user.pk],
        "may_assign_self": any(p.pk == user.pk for p in people),
    }


def _assign_view(model_admin: Any, request: HttpRequest, anomaly_id: int) -> HttpResponse:
    anomaly = model_admin.get_object(request, str(anomaly_id))
    if anomaly is None or not model_admin.has_view_permission(request, anomaly):
        raise Http404(_("No such anomaly."))
    back = redirect(reverse("admin:incidents_orderanomaly_change", args=[anomaly.pk]))
    if request.method != "POST":
        return back
    actor = cast(User, request.user)
    raw = request.POST.get("assignee", "")
    if request.POST.get("me") == "1":
        assignee: User | None = actor
    elif raw.isascii() and raw.isdigit():
        # Only the tenant's users: another tenant's id is "no such person", like a typo.
        assignee = User.objects.filter(pk=int(raw), tenant_id=anomaly.tenant_id).first()
    else:
        assignee = None
    if assignee is None:
        messages.error(request, _("Choose whom to assign it to."))
        return back
    try:
        assign_anomaly(anomaly=anomaly, assignee=assignee, actor=actor)
    except (ValidationError, Conflict, PermissionDenied) as error:
        refuse(request, error)
    else:
        messages.success(
            request, _("The anomaly is assigned to %(who)s.") % {"who": assignee.username}
        )
    return back


def assignment_urls(model_admin: Any) -> list[Any]:
    def view(request: HttpRequest, anomaly_id: int) -> HttpResponse:
        return _assign_view(model_admin, request, anomaly_id)

    return [
        path(
            "<int:anomaly_id>/assign/",
            model_admin.admin_site.admin_view(view),
            name="incidents_orderanomaly_assign",
        )
    ]
