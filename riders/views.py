"""The rider page: mobile-first, server-rendered; each POST calls one rider service and
redirects, each GET only reads (riders.selectors): no page view writes a row. The one
event a GET records is the audited reveal of the address and the delivery note the order
page shows from the pickup on, in one reveal (``delivery.delivery_details``): each time the
rider sees them, it is on record. A finished order of the rider's shows only its code,
outcome and time (``selectors.finished_order_of``)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast
from uuid import UUID

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse_lazy
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from audits.context import current_request_context
from audits.models import ViolationClause, ViolationState
from audits.violations import selectors as violation_selectors
from audits.violations.evidence import kind_label
from audits.violations.services import answer_violation
from core.errors import Conflict
from orders.models import Order, Status
from privacy.api import SubjectErasedError
from riders import delivery, selectors
from riders.agreements import sign_agreement
from riders.models import HeldLocation
from riders.profiles import ensure_rider_profile
from tenants.models import Role, User
from tenants.roles import has_role
from training.gates import dispatch_gate

View = Callable[..., HttpResponse]


class RiderLoginView(auth_views.LoginView):
    template_name = "riders/login.html"
    redirect_authenticated_user = True
    next_page = reverse_lazy("riders:home")  # type: ignore[assignment]


class RiderLogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("riders:login")  # type: ignore[assignment]


def rider_page(*, needs_signature: bool = True) -> Callable[[View], View]:
    """A page for users holding the rider role; the view receives the rider's user. Until
    the rider has signed the current agreement, pages that need it redirect to it. Reads
    only: the rider profile is created when the rider signs (riders.profiles)."""

    def decorator(view: View) -> View:
        @wraps(view)
        @login_required(login_url="riders:login")
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = cast(User, request.user)
            if not has_role(user, Role.RIDER):
                raise PermissionDenied(_("This page is for riders."))
            if needs_signature and selectors.agreement_to_sign(user) is not None:
                return redirect("riders:agreement")
            return view(request, user, *args, **kwargs)

        return wrapped

    return decorator


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def _my_order(user: User, order_id: UUID) -> Order:
    try:
        return selectors.open_order_of(user, order_id)
    except Order.DoesNotExist:
        raise Http404(_("No such order.")) from None


def _finished_page(
    request: HttpRequest, finished: selectors.FinishedOrder, *, just_delivered: bool
) -> HttpResponse:
    """A finished order of the rider's: its code, outcome and time only."""
    context = {"finished": finished, "just_delivered": just_delivered}
    return _no_store(TemplateResponse(request, "riders/finished.html", context))


@rider_page()
def home(request: HttpRequest, user: User) -> HttpResponse:
    gate = dispatch_gate([user.pk], user.tenant)[user.pk] if user.tenant else None
    context = {
        "orders": selectors.open_orders_of(user),
        "finished_today": selectors.finished_today_of(user),
        # The training gate (training.gates): why the rider gets no new orders, or until
        # when a new version of their course may wait.
        "training_refused": "; ".join(gate.reasons()) if gate and not gate.open else "",
        "training_warning": gate.warning_message(what=_("get new orders"))
        if gate and gate.warned
        else "",
        # Violations recorded about the rider and still open (audits.violations): read
        # and answer them on the rider page (riders do not use the back office).
        "violations": violation_selectors.open_violations_of(user),
    }
    return _no_store(TemplateResponse(request, "riders/home.html", context))


def _version(request: HttpRequest) -> int | None:
    try:
        return int(request.POST.get("version", ""))
    except ValueError:
        return None


@rider_page(needs_signature=False)
def agreement(request: HttpRequest, user: User) -> HttpResponse:
    current = selectors.agreement_to_sign(user)
    if current is None:
        return redirect("riders:home")
    status = 200
    if request.method == "POST":
        version = _version(request)
        if version is None:
            status = 400
            messages.error(
                request, _("This form was not sent correctly; please read the agreement again.")
            )
        elif request.POST.get("agree") != "yes":
            messages.error(
                request, _("Tick the box to confirm you have read and accept the agreement.")
            )
        else:
            try:
                # The rider's first signature is the explicit step that creates the profile.
                sign_agreement(
                    rider=ensure_rider_profile(user=user, actor=user),
                    version=version,
                    language=get_language() or "zh-hans",
                    ip=current_request_context().ip,
                )
                messages.success(request, _("Thank you: agreement signed."))
                return redirect("riders:home")
            except Conflict:
                messages.error(
                    request,
                    _("The agreement changed while you were reading; please read it again."),
                )
        current = selectors.agreement_to_sign(user) or current
    text = current.text_for(get_language() or "zh-hans")[1]
    return TemplateResponse(
        request, "riders/agreement.html", {"agreement": current, "text": text}, status=status
    )


@rider_page()
def order_detail(request: HttpRequest, user: User, order_id: UUID) -> HttpResponse:
    try:
        order = selectors.open_order_of(user, order_id)
    except Order.DoesNotExist:
        # The old link of an order this rider finished: a page saying so, not a bare 404.
        finished = selectors.finished_order_of(user, order_id)
        if finished is None:
            raise Http404(_("No such order.")) from None
        return _finished_page(request, finished, just_delivered=False)
    details = None
    try:
        details = delivery.delivery_details(order=order, user=user)
    except SubjectErasedError:
        messages.error(request, _("This customer's data has been erased; call customer service."))
    context = {
        "order": order,
        "address": details["address"] if details else None,
        "note": details["note"] if details else "",
        "locations": HeldLocation.choices,
        "problems": [(k.value, k.label) for k in delivery.RIDER_PROBLEMS],
        "on_the_way": order.status in (Status.PICKED_UP, Status.HELD),
    }
    return _no_store(TemplateResponse(request, "riders/order.html", context))


def _step(request: HttpRequest, action: Callable[[], Any], success: str) -> Any:
    """Run one service call; its refusal becomes a message on the next page."""
    try:
        result = action()
        if success:
            messages.success(request, success)
        return result
    except ValidationError as error:
        for text in error.messages:
            messages.error(request, text)
    except Conflict as error:
        messages.error(request, error.message)
    except SubjectErasedError:
        messages.error(request, _("This customer's data has been erased; call customer service."))
    return None


def _order_step(run: Callable[[HttpRequest, Order, User], Any], success: Any) -> View:
    """A POST-only rider view: one service call on the rider's order, back to the order."""

    @require_POST
    @rider_page()
    def view(request: HttpRequest, user: User, order_id: UUID) -> HttpResponse:
        order = _my_order(user, order_id)
        _step(request, lambda: run(request, order, user), str(success))
        return redirect("riders:order", order_id=order.pk)

    return view


pickup = _order_step(
    lambda request, order, user: delivery.confirm_pickup(
        order=order,
        user=user,
        code=request.POST.get("code", ""),
        seal_number=request.POST.get("seal_number", ""),
    ),
    gettext_lazy("Pickup confirmed. The full address is shown below."),
)
hold = _order_step(
    lambda request, order, user: delivery.hold_order(
        order=order,
        user=user,
        location=request.POST.get("location", ""),
        note=request.POST.get("note", ""),
    ),
    gettext_lazy("Recorded: the package is held."),
)
resume = _order_step(
    lambda request, order, user: delivery.resume_delivery(order=order, user=user),
    gettext_lazy("Back on the way."),
)
problem = _order_step(
    lambda request, order, user: delivery.report_problem(
        order=order, user=user, kind=request.POST.get("kind", "")
    ),
    gettext_lazy("Reported to customer service."),
)


# The relay numbers bound this session, by order: the number a POST bound is shown by the
# GET it redirects to, so a reload shows it again without calling (and revealing) again. A
# relay number is not the customer's: it reaches them only while the assignment lasts.
_RELAY_NUMBERS = "riders_relay_numbers"


@require_http_methods(["GET", "POST"])
@rider_page()
def call(request: HttpRequest, user: User, order_id: UUID) -> HttpResponse:
    order = _my_order(user, order_id)
    numbers: dict[str, str] = request.session.get(_RELAY_NUMBERS, {})
    if request.method == "POST":
        bound = _step(request, lambda: delivery.call_customer(order=order, user=user), "")
        if bound is None:
            return redirect("riders:order", order_id=order.pk)
        request.session[_RELAY_NUMBERS] = {**numbers, str(order.pk): bound}
        return redirect("riders:call", order_id=order.pk)
    number = numbers.get(str(order.pk))
    if number is None:
        return redirect("riders:order", order_id=order.pk)
    return _no_store(
        TemplateResponse(
            request,
            "riders/call.html",
            {"order": order, "number": number, "dial": number.replace(" ", "")},
        )
    )


@require_POST
@rider_page()
def handover(request: HttpRequest, user: User, order_id: UUID) -> HttpResponse:
    if selectors.finished_order_of(user, order_id) is not None:
        # A second tap or a resent form after the handover: the delivered page, not a 404.
        return redirect("riders:delivered", order_id=order_id)
    order = _my_order(user, order_id)
    code = request.POST.get("handover_code", "").strip()
    if code:
        delivered = _step(
            request,
            lambda: delivery.hand_over_with_code(order=order, user=user, code=code),
            "",
        )
        return redirect("riders:delivered" if delivered else "riders:order", order_id=order.pk)
    result = _step(
        request,
        lambda: delivery.hand_over_with_pin(
            order=order, user=user, pin=request.POST.get("pin", "")
        ),
        "",
    )
    if result is None:
        return redirect("riders:order", order_id=order.pk)
    delivered, attempts_left = result
    if delivered:
        return redirect("riders:delivered", order_id=order.pk)
    if attempts_left:
        messages.error(request, _("Wrong PIN. %(n)d attempts left.") % {"n": attempts_left})
    else:
        messages.error(
            request,
            _("Wrong PIN. The order is locked; customer service has been told and will call you."),
        )
    return redirect("riders:order", order_id=order.pk)


@rider_page()
def delivered(request: HttpRequest, user: User, order_id: UUID) -> HttpResponse:
    """Where a handover redirects: the order's code and when it was delivered. A reload
    only reads. Another rider's or tenant's order, or one not finished, is a 404."""
    finished = selectors.finished_order_of(user, order_id)
    if finished is None:
        raise Http404(_("No such order."))
    return _finished_page(request, finished, just_delivered=finished.delivered)


# --- Violations about the rider (issue 20, point 4) ---------------------------------------


@require_http_methods(["GET", "POST"])
@rider_page()
def violation(request: HttpRequest, user: User, violation_id: int) -> HttpResponse:
    """One of the rider's own violations: what was recorded, the sanction, the rider's
    answers and, while one is due, the answer form (once per stage). Another rider's or
    another tenant's violation is a 404. GET reads only; the answer is a POST that
    redirects back."""
    if user.tenant is None:
        raise Http404(_("No such violation."))
    found = violation_selectors.own_violation(user, user.tenant, violation_id)
    status = 200
    error = ""
    if request.method == "POST":
        try:
            answer_violation(violation=found, text=request.POST.get("text", ""), actor=user)
        except ValidationError as refused:
            status, error = 400, " ".join(refused.messages)
        except Conflict as refused:
            status, error = 409, str(refused)
        else:
            messages.success(request, _("Your answer is recorded."))
            return redirect("riders:violation", violation_id=found.pk)
    kinds = sorted({kind_label(k) for k in found.evidence.values_list("kind", flat=True)})
    context = {
        "violation": found,
        "clause_label": ViolationClause(found.clause).label,
        "sanction_rows": [
            {"sanction": s, "label": s.get_kind_display()}
            for s in violation_selectors.sanctions_of(found)
        ],
        "evidence_count": len(found.evidence.all()),
        "evidence_kinds": kinds,
        "answers": violation_selectors.answers_of(found),
        "may_answer": violation_selectors.may_answer(found),
        "is_recorded": found.state == ViolationState.RECORDED,
        "error": error,
        "text": request.POST.get("text", "") if status != 200 else "",
    }
    return _no_store(TemplateResponse(request, "riders/violation.html", context, status=status))
