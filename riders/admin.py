"""Riders in the back office: profiles, agreements, signatures, and dispatch on the order page."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast
from uuid import UUID

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import Conflict
from core.one_time import stash, take
from orders.admin import OrderAdmin
from orders.models import FINISHED, Order, Status
from orders.pins import resend_delivery_pin
from riders.agreements import publish_agreement
from riders.delivery import issue_handover_code
from riders.dispatch import assign_rider, auto_assign
from riders.eligibility import dispatch_blockers
from riders.models import AgreementSignature, ConfidentialityAgreement, Rider
from riders.profiles import update_rider
from riders.selectors import (
    board_riders,
    count_waiting_for_rider,
    dispatch_choices,
    orders_waiting_for_rider,
    rider_by_pk,
)
from tenants.admin import (
    ReadOnlyAdminMixin,
    TenantScopedModelAdmin,
    VersionedDocumentAdmin,
    refuse,
)
from tenants.models import Role, User
from tenants.roles import has_role
from tenants.versioning import current_version

HANDOVER_DISPLAY = "handover_code"
BOARD_ORDERS_SHOWN = 100  # the dispatch board's waiting orders, longest waiting first
BOARD_LATE_MINUTES = 15  # a packed order waiting this long is marked on the board


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _require_dispatcher(request: HttpRequest) -> User:
    user = _user(request)
    if getattr(request, "tenant", None) is None or not has_role(user, Role.DISPATCHER):
        raise PermissionDenied(_("The dispatch board is for dispatchers."))
    return user


def _waiting_row(order: Order, now: datetime) -> dict[str, Any]:
    """A waiting order as the board shows it: the time since it was packed, compact."""
    minutes = max(0, int((now - order.status_changed_at).total_seconds() // 60))
    hours, rest = divmod(minutes, 60)
    waited = (
        _("%(hours)d h %(minutes)02d min") % {"hours": hours, "minutes": rest}
        if hours
        else _("%(minutes)d min") % {"minutes": minutes}
    )
    return {"order": order, "waited": waited, "late": minutes >= BOARD_LATE_MINUTES}


def _uuid_or_404(value: Any) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise Http404(_("No such order.")) from None


class AgreementFilter(admin.SimpleListFilter):
    """``?agreement=unsigned``: active riders who have not signed the current agreement
    (the dashboard's §4.1.1 figure, issue 20)."""

    title = gettext_lazy("confidentiality agreement")
    parameter_name = "agreement"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("unsigned", gettext_lazy("Current version not signed"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() != "unsigned":
            return queryset
        current = current_version(ConfidentialityAgreement, request.tenant.pk)  # type: ignore[attr-defined]
        if current is None:
            return queryset.filter(is_active=True, user__is_active=True)
        signed = AgreementSignature.objects.filter(agreement=current).values("rider_id")
        return queryset.filter(is_active=True, user__is_active=True).exclude(pk__in=signed)


@admin.register(Rider)
class RiderAdmin(TenantScopedModelAdmin):
    list_display = ["user", "vehicle", "on_shift", "is_active", "dispatchable"]
    list_filter = ["on_shift", "is_active", AgreementFilter, "vehicle"]
    list_select_related = ["user"]
    fields = ["user", "vehicle", "on_shift", "is_active"]
    readonly_fields = ["user"]
    actions = None

    @admin.display(description=_("Can be dispatched"))
    def dispatchable(self, rider: Rider) -> str:
        blockers = dispatch_blockers(rider)
        return _("yes") if not blockers else "; ".join(blockers)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a rider profile comes with the rider's first signature (riders.profiles)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        update_rider(rider=obj, actor=_user(request), changed_fields=list(form.changed_data))


@admin.register(ConfidentialityAgreement)
class AgreementAdmin(VersionedDocumentAdmin):
    list_display = ["version", "published_at", "published_by"]
    fields = ["text_zh", "text_en"]

    def publish(self, request: HttpRequest, form: Any) -> ConfidentialityAgreement:
        return publish_agreement(
            tenant=request.tenant,  # type: ignore[attr-defined]
            actor=_user(request),
            text_zh=form.cleaned_data["text_zh"],
            text_en=form.cleaned_data["text_en"],
        )


@admin.register(AgreementSignature)
class SignatureAdmin(ReadOnlyAdminMixin, TenantScopedModelAdmin):
    list_display = ["rider", "agreement", "language", "signed_at", "ip", "text_sha256"]
    list_select_related = ["rider__user", "agreement"]
    actions = None


admin.site.unregister(Order)


def _order_path(order_id: Any) -> str:
    """The path the order's pages share (the one-time code's cookie goes there only)."""
    return reverse("admin:orders_order_change", args=[order_id]).rsplit("change/", 1)[0]


@admin.register(Order)
class DispatchOrderAdmin(OrderAdmin):
    """The order page with dispatch controls for dispatchers, and customer service's tools:
    a single-use handover code (shown once after the redirect) and a new delivery PIN by
    SMS."""

    change_form_template = "admin/orders/order/dispatch_change_form.html"

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        extra = dict(extra_context or {})
        if getattr(request, "tenant", None) is not None:
            user = _user(request)
            order = self.get_object(request, object_id)
            dispatching = order is not None and order.status in (Status.PACKED, Status.ASSIGNED)
            if dispatching and has_role(user, Role.DISPATCHER):
                extra["dispatch_riders"] = dispatch_choices()
            if order is not None and has_role(user, Role.CUSTOMER_SERVICE):
                extra["may_issue_handover_code"] = order.status in (Status.PICKED_UP, Status.HELD)
                extra["may_resend_pin"] = order.status not in FINISHED
        response = super().change_view(request, object_id, form_url, extra)
        if isinstance(response, TemplateResponse) and response.context_data is not None:
            original = response.context_data.get("original")
            if original is not None:
                code = take(
                    request,
                    response,
                    user=request.user,
                    purpose=HANDOVER_DISPLAY,
                    object_id=original.pk,
                    path=_order_path(original.pk),
                )
                if code is not None:
                    response.context_data["handover_code"] = code
                    response["Cache-Control"] = "no-store"  # the code is shown here only
        return response

    def get_urls(self) -> list[Any]:
        return [
            path(
                "dispatch/",
                self.admin_site.admin_view(self.dispatch_board_view),
                name="orders_order_dispatch_board",
            ),
            path(
                "dispatch/assign/",
                self.admin_site.admin_view(self.board_assign_view),
                name="orders_order_dispatch_board_assign",
            ),
            path(
                "<uuid:order_id>/assign/",
                self.admin_site.admin_view(self.assign_view),
                name="orders_order_assign",
            ),
            path(
                "<uuid:order_id>/handover-code/",
                self.admin_site.admin_view(self.handover_code_view),
                name="orders_order_handover_code",
            ),
            path(
                "<uuid:order_id>/resend-pin/",
                self.admin_site.admin_view(self.resend_pin_view),
                name="orders_order_resend_pin",
            ),
            *super().get_urls(),
        ]

    def dispatch_board_view(self, request: HttpRequest) -> HttpResponse:
        """The dispatcher's work page: packed orders waiting for a rider, longest waiting
        first, beside the riders with their load and why each may not be dispatched."""
        user = _require_dispatcher(request)
        riders = board_riders()
        orders = orders_waiting_for_rider(user, limit=BOARD_ORDERS_SHOWN)
        waiting = len(orders)
        if waiting == BOARD_ORDERS_SHOWN:
            waiting = count_waiting_for_rider(user)
        now = timezone.now()
        context = {
            **self.admin_site.each_context(request),
            "title": _("Dispatch board"),
            "orders": [_waiting_row(order, now) for order in orders],
            "waiting": waiting,
            "riders": riders,
            "eligible": [row for row in riders if row.eligible],
            "on_shift": sum(1 for row in riders if row.rider.on_shift),
        }
        return TemplateResponse(request, "admin/orders/order/dispatch_board.html", context)

    def board_assign_view(self, request: HttpRequest) -> HttpResponse:
        """One click on the board: the order's rider (or the least-loaded one) through the
        order page's services; never a reassignment (the order was shown as waiting)."""
        user = _require_dispatcher(request)
        board = redirect(reverse("admin:orders_order_dispatch_board"))
        if request.method != "POST":
            return board
        order = self._order_or_404(request, _uuid_or_404(request.POST.get("order")))
        try:
            if request.POST.get("auto"):
                assignment = auto_assign(order=order, actor=user, reassign=False)
            else:
                chosen = request.POST.get("rider", "")
                if not chosen:
                    raise Conflict(_("Choose a rider."))
                rider = rider_by_pk(chosen)
                if rider is None:
                    raise Http404(_("No such rider."))
                assignment = assign_rider(order=order, rider=rider, actor=user, reassign=False)
        except (Conflict, PermissionDenied) as error:
            refuse(request, error)
        else:
            messages.success(
                request,
                _("Order %(code)s assigned to %(rider)s.")
                % {"code": order.code, "rider": assignment.rider},
            )
        return board

    def handover_code_view(self, request: HttpRequest, order_id: Any) -> HttpResponse:
        order = self._order_or_404(request, order_id)
        response = self._back(order)
        if request.method != "POST":
            return response
        try:
            code = issue_handover_code(
                order=order, actor=_user(request), reason=request.POST.get("reason", "")
            )
        except (ValidationError, Conflict, PermissionDenied) as error:
            refuse(request, error)
        else:
            stash(
                response,
                user=request.user,
                purpose=HANDOVER_DISPLAY,
                object_id=order.pk,
                value=code,
                path=_order_path(order.pk),
            )
            messages.success(request, _("Handover code issued; it is shown once, below."))
        return response

    def resend_pin_view(self, request: HttpRequest, order_id: Any) -> HttpResponse:
        order = self._order_or_404(request, order_id)
        if request.method == "POST":
            try:
                resend_delivery_pin(order=order, actor=_user(request))
            except (Conflict, PermissionDenied) as error:
                refuse(request, error)
            else:
                messages.success(request, _("A new PIN was sent to the customer."))
        return self._back(order)

    def assign_view(self, request: HttpRequest, order_id: Any) -> HttpResponse:
        order = self._order_or_404(request, order_id)
        if request.method == "POST":
            try:
                if request.POST.get("auto"):
                    assignment = auto_assign(order=order, actor=_user(request))
                else:
                    rider = rider_by_pk(request.POST.get("rider"))
                    if rider is None:
                        raise Conflict(_("Choose a rider."))
                    assignment = assign_rider(order=order, rider=rider, actor=_user(request))
                messages.success(request, _("Assigned to %(rider)s.") % {"rider": assignment.rider})
            except (Conflict, PermissionDenied) as error:
                refuse(request, error)
        return self._back(order)
