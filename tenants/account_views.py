"""The second-factor pages: enrol an authenticator app, see the recovery codes once, verify.

Post/redirect/get throughout; one-time values (the recovery codes) are shown once, after
the redirect, and never cached.
"""

from __future__ import annotations

import base64
from typing import Any, cast

import django_otp
import segno
from django.contrib import admin, messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django_otp.plugins.otp_static.models import StaticDevice
from django_scopes import scopes_disabled

from tenants.models import Role, User
from tenants.roles import has_role
from tenants.two_factor import (
    confirm_enrolment,
    has_two_factor_device,
    needs_two_factor,
    pending_totp_device,
    verify_second_factor,
)

_CODES_KEY = "two_factor_recovery_codes"


def _next(request: HttpRequest, user: User) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    if has_role(user, Role.RIDER) and not user.is_staff:
        return reverse("riders:home")
    return reverse("admin:index")


def _with_next(name: str, next_url: str) -> str:
    return f"{reverse(name)}?{urlencode({'next': next_url})}"


def _base_template(user: User) -> str:
    # Riders use the page on a phone; everyone else the back office's login pages.
    return RIDER_BASE if has_role(user, Role.RIDER) and not user.is_staff else STAFF_BASE


RIDER_BASE = "riders/base.html"
STAFF_BASE = "tenants/account_base.html"


def _page(request: HttpRequest, user: User, template: str, context: dict[str, Any]) -> Any:
    """The page in its frame: the rider page's, or the back office's login layout (which
    needs the admin site's context: colours, styles, scripts)."""
    base = _base_template(user)
    frame: dict[str, Any] = {}
    if base == STAFF_BASE and user.tenant_id is None:
        # Platform-operator code: the admin's frame (its app list) spans tenants, as in the
        # operator's admin itself (tenants.middleware); the operator has no tenant scope.
        with scopes_disabled():
            frame = admin.site.each_context(request)
    elif base == STAFF_BASE:
        frame = admin.site.each_context(request)
    return TemplateResponse(request, template, {**frame, **context, "base_template": base})


@never_cache
@login_required
def setup(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    next_url = _next(request, user)
    if has_two_factor_device(user):
        return redirect(_with_next("account:two-factor-verify", next_url))
    device = pending_totp_device(user=user)
    error = ""
    if request.method == "POST":
        code = request.POST.get("code", "").strip().replace(" ", "")
        if code.isascii() and code.isdigit() and device.verify_token(code):
            codes = confirm_enrolment(user=user, device=device, actor=user)
            django_otp.login(request, device)
            request.session[_CODES_KEY] = codes
            return redirect(_with_next("account:two-factor-recovery-codes", next_url))
        error = _("That code is not right. Type the six digits your app shows now.")
    secret = base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
    qr = segno.make(device.config_url, error="m").svg_inline(scale=4, title=_("QR code"))
    response = _page(
        request,
        user,
        "tenants/two_factor_setup.html",
        {
            "qr_svg": qr,
            "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "error": error,
            "next": next_url,
            "required": needs_two_factor(user),
            "title": _("Set up two-factor login"),
        },
    )
    response.status_code = 400 if error else 200
    return response


@never_cache
@login_required
def recovery_codes(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    next_url = _next(request, user)
    codes = request.session.pop(_CODES_KEY, None)
    if not codes:
        return redirect(next_url)
    return _page(
        request,
        user,
        "tenants/two_factor_recovery_codes.html",
        {"codes": codes, "next": next_url, "title": _("Your recovery codes")},
    )


@never_cache
@login_required
def verify(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    next_url = _next(request, user)
    if not has_two_factor_device(user):
        return redirect(_with_next("account:two-factor-setup", next_url))
    error = ""
    if request.method == "POST":
        device = verify_second_factor(user=user, code=request.POST.get("code", ""))
        if device is not None:
            django_otp.login(request, device)
            if isinstance(device, StaticDevice):
                messages.warning(
                    request,
                    _(
                        "Recovery code used; %(left)d left. Ask your tenant administrator for a new enrolment when they run low."
                    )
                    % {"left": device.token_set.count()},
                )
            return redirect(next_url)
        error = _(
            "That code is not right, or it was already used. Try the code your app shows now."
        )
    response = _page(
        request,
        user,
        "tenants/two_factor_verify.html",
        {"error": error, "next": next_url, "title": _("Two-factor login")},
    )
    response.status_code = 400 if error else 200
    return response
