"""Staff pages for the kitchen and packing, and the package label. Thin: each POST calls one
service; each page shows only what its role needs (docs/privacy.md)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast
from uuid import UUID

import segno
from django.contrib import admin, messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.errors import Conflict
from orders.lifecycle import mark_food_ready, transition_order
from orders.models import Order, Status
from orders.permissions import Action, may
from orders.selectors import (
    items_of,
    kitchen_board,
    ready_to_pack,
    recently_packed,
    station_order_for,
)
from privacy.api import Purpose, reveal_many
from tenants.models import Role, User
from tenants.roles import has_role

KITCHEN_PAGE_SIZE = 50  # the packing page's orders ready to pack
BOARD_COLUMN_SIZE = 30  # the kitchen board's orders per column
BOARD_REFRESH_SECONDS = 25  # the board reloads itself (static/baomi/board-refresh.js)
PACKED_SHOWN = 20  # the packing page's last packed orders


def role_required(
    *roles: Role,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        @login_required(login_url="admin:login")
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not has_role(_staff(request), *roles):
                raise PermissionDenied(_("This page is for another role."))
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _staff(request: HttpRequest) -> User:
    # Every view here is behind login_required.
    return cast(User, request.user)


def _order(request: HttpRequest, order_id: UUID) -> Order:
    """An order of this station (kitchen, packing) or one the user may open; else 404."""
    try:
        return station_order_for(_staff(request), order_id)
    except Order.DoesNotExist:
        raise Http404(_("No such order.")) from None


def _with_items(
    request: HttpRequest, orders: list[Order], fields: list[str], purpose: str
) -> list[dict[str, Any]]:
    """Each order with the fields its role reveals: one audited reveal for the whole page
    (``reveal_many``: one event naming the orders shown)."""
    results = reveal_many(orders, fields=fields, actor=_staff(request), purpose=purpose)
    rows = []
    for order in orders:
        result = results[order.pk]
        if not result.ok:
            # Recorded by the vault; one unreadable order must not hide the others.
            rows.append({"order": order, "items": [], "note": "", "unavailable": True})
            continue
        revealed = result.values
        rows.append({"order": order, "items": items_of(revealed), "note": revealed.get("note", "")})
    return rows


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def _station_page(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    """A station page; its header links back to the back office when the back office has
    something for the user (a kitchen-only user's /admin/ would only send them back here)."""
    back_office = _staff(request).is_staff and bool(admin.site.get_app_list(request))
    context = {**context, "back_office": back_office}
    return _no_store(TemplateResponse(request, template, context))


def _minutes_since(moment: Any) -> int:
    return max(0, int((timezone.now() - moment).total_seconds() // 60))


@role_required(Role.KITCHEN)
def kitchen(request: HttpRequest) -> HttpResponse:
    """The kitchen board: received, preparing and ready columns. One audited reveal for the
    page names the received and preparing orders shown (items and note); the ready column
    shows codes and times only, so it reveals nothing."""
    board = kitchen_board(_staff(request), BOARD_COLUMN_SIZE)
    rows = _with_items(
        request, board.received + board.preparing, ["items", "note"], Purpose.FOOD_PREPARATION
    )
    for row in rows:
        row["minutes"] = _minutes_since(row["order"].created_at)
    ready = [
        {"order": order, "items": [], "note": "", "minutes": _minutes_since(order.kitchen_ready_at)}
        for order in board.ready
    ]
    shown = len(board.received)
    columns = [
        ("received", _("Received"), rows[:shown], _("No new orders.")),
        ("preparing", _("Preparing"), rows[shown:], _("Nothing being prepared.")),
        ("ready", _("Ready for packing"), ready, _("No food waiting for packing.")),
    ]
    context = {
        "columns": [
            {
                "key": key,
                "title": title,
                "rows": column_rows,
                "count": board.counts[key],
                "hidden": board.counts[key] - len(column_rows),
                "empty": empty,
            }
            for key, title, column_rows, empty in columns
        ],
        "refresh_seconds": BOARD_REFRESH_SECONDS,
    }
    return _station_page(request, "orders/kitchen.html", context)


def _run(request: HttpRequest, action: Callable[[], Any], success: str) -> None:
    try:
        action()
        messages.success(request, success)
    except (Conflict, ValidationError) as error:
        text = error.message if isinstance(error, Conflict) else " ".join(error.messages)
        messages.error(request, text)


@require_POST
@role_required(Role.KITCHEN)
def kitchen_start(request: HttpRequest, order_id: UUID) -> HttpResponse:
    order = _order(request, order_id)
    _run(
        request,
        lambda: transition_order(order=order, to=Status.PREPARING, actor=_staff(request)),
        _("Order %(code)s: preparing.") % {"code": order.code},
    )
    return redirect("orders:kitchen")


@require_POST
@role_required(Role.KITCHEN)
def kitchen_ready(request: HttpRequest, order_id: UUID) -> HttpResponse:
    order = _order(request, order_id)
    _run(
        request,
        lambda: mark_food_ready(order=order, actor=_staff(request)),
        _("Order %(code)s: food ready for packing.") % {"code": order.code},
    )
    return redirect("orders:kitchen")


@role_required(Role.PACKER)
def packing(request: HttpRequest) -> HttpResponse:
    ready = ready_to_pack(_staff(request), KITCHEN_PAGE_SIZE)
    packed = recently_packed(_staff(request), PACKED_SHOWN)
    rows = _with_items(request, ready, ["items"], Purpose.PACKING)
    return _station_page(request, "orders/packing.html", {"rows": rows, "packed": packed})


@require_POST
@role_required(Role.PACKER)
def pack(request: HttpRequest, order_id: UUID) -> HttpResponse:
    order = _order(request, order_id)
    seal = request.POST.get("seal_number", "")
    _run(
        request,
        lambda: transition_order(
            order=order, to=Status.PACKED, actor=_staff(request), seal_number=seal
        ),
        _("Order %(code)s packed; print its label.") % {"code": order.code},
    )
    return redirect("orders:packing")


def qr_data_uri(text: str) -> str:
    """A PNG QR code as a data URI (printed labels need no external request). A standard
    QR, never a Micro QR (which segno would pick for short data): phone scanners read only
    the standard one. Its quiet zone is the four modules the standard asks for."""
    return segno.make(text, error="m", micro=False).png_data_uri(scale=6, border=4)


@login_required(login_url="admin:login")
def label(request: HttpRequest, order_id: UUID) -> HttpResponse:
    order = _order(request, order_id)
    if not may(_staff(request), Action.PRINT_LABEL, order):
        raise PermissionDenied(_("Only packers and dispatchers print labels."))
    context = {"order": order, "qr": qr_data_uri(order.code)}
    return TemplateResponse(request, "orders/label.html", context)
