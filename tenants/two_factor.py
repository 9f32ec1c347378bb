"""Two-factor login (django-otp): who needs it, the gate that sends them to enrol or verify,
and the services that enrol a device and reset it.

Required for everyone who can reveal personal data or manage users, tokens or keys: tenant
administrators, customer service, privacy officers, supervisors and platform operators;
riders when their tenant asks for it (``Tenant.riders_need_two_factor``). The second factor
is a TOTP app, with ten one-time recovery codes stored as keyed hashes (docs/conventions.md §4).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django_otp import user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.hashing import keyed_hash
from tenants.actors import Actor
from tenants.models import Role, User
from tenants.roles import roles_of
from tenants.services import _require_platform_actor, _require_tenant_admin
from tenants.signals import tenant_change

ROLES_NEEDING_TWO_FACTOR = frozenset(
    {Role.TENANT_ADMIN, Role.CUSTOMER_SERVICE, Role.PRIVACY_OFFICER, Role.SUPERVISOR}
)
RECOVERY_CODE_COUNT = 10
SETUP_PATH = "/account/two-factor/setup/"
VERIFY_PATH = "/account/two-factor/verify/"
# Pages a logged-in user reaches before the second factor: enrolment and verification,
# logging out, the language switch, static files, and the public erasure pages.
EXEMPT_PREFIXES = (
    "/account/two-factor/",
    "/admin/logout/",
    "/rider/logout/",
    "/rider/login/",
    "/i18n/",
    "/privacy/",
)


def needs_two_factor(user: Any) -> bool:
    if not isinstance(user, User) or not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    roles = roles_of(user)
    if roles & ROLES_NEEDING_TWO_FACTOR:
        return True
    return Role.RIDER in roles and bool(user.tenant and user.tenant.riders_need_two_factor)


def has_two_factor_device(user: User) -> bool:
    return bool(user_has_device(user, confirmed=True))


def two_factor_satisfied(user: Any) -> bool:
    """False for a user who needs a second factor and has not given one this session."""
    if not needs_two_factor(user):
        return True
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified and is_verified())


def recovery_code_hash(code: str) -> str:
    # StaticToken.token holds 16 characters: 64 bits of an HMAC under a key outside the
    # database, so a copy of the database does not yield usable codes.
    return keyed_hash("two-factor-recovery", code.strip().lower())[:16]


def _static_prefix() -> str:
    return str(
        settings.STATIC_URL if settings.STATIC_URL.startswith("/") else "/" + settings.STATIC_URL
    )


class TwoFactorGateMiddleware:
    """A logged-in user who needs a second factor and has not given one this session goes to
    enrolment (no device yet) or verification; the API answers 403 instead of redirecting.
    Integration tokens (an ``Authorization`` header) are not sessions and pass."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if (
            path.startswith(EXEMPT_PREFIXES)
            or path.startswith(_static_prefix())
            or two_factor_satisfied(request.user)
        ):
            return self.get_response(request)
        if path.startswith("/api/"):
            # A bearer token authenticates instead of the session (and fails if invalid);
            # any other Authorization scheme would fall back to the session.
            if request.META.get("HTTP_AUTHORIZATION", "").lower().startswith("bearer "):
                return self.get_response(request)
            return JsonResponse({"detail": _("Log in with your second factor first.")}, status=403)
        user = request.user
        target = VERIFY_PATH if has_two_factor_device(user) else SETUP_PATH  # type: ignore[arg-type]
        return redirect(f"{target}?{urlencode({'next': request.get_full_path()})}")


def _require_self_or_admin(user: User, actor: Actor) -> None:
    if isinstance(actor, User) and actor.pk == user.pk:
        return
    if user.tenant is None:
        _require_platform_actor(actor)
    else:
        _require_tenant_admin(actor, user.tenant)


def _send(action: str, *, user: User, actor: Actor, details: dict[str, Any] | None = None) -> None:
    if user.tenant is not None:
        tenant_change.send(
            sender=User,
            action=action,
            actor=actor,
            tenant=user.tenant,
            target=user,
            details=details,
        )


def pending_totp_device(*, user: User) -> TOTPDevice:
    """The unconfirmed TOTP device being enrolled (made once, kept across reloads)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator app", confirmed=False)
    return device


def confirm_enrolment(*, user: User, device: TOTPDevice, actor: Actor) -> list[str]:
    """Confirm ``device`` (its code was checked) and issue fresh recovery codes, returned
    in clear this once; earlier devices and codes of the user are replaced."""
    _require_self_or_admin(user, actor)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        StaticDevice.objects.filter(user=user).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        recovery = StaticDevice.objects.create(user=user, name="recovery codes", confirmed=True)
        StaticToken.objects.bulk_create(
            [StaticToken(device=recovery, token=recovery_code_hash(code)) for code in codes]
        )
        _send("auth.two_factor_enrolled", user=user, actor=actor)
    return codes


def verify_second_factor(*, user: User, code: str) -> TOTPDevice | StaticDevice | None:
    """The device that accepts ``code`` (a TOTP code or a recovery code, which is used up),
    or None. The devices throttle repeated failures themselves."""
    code = code.strip().replace(" ", "")
    if not code:
        return None
    for totp in TOTPDevice.objects.filter(user=user, confirmed=True):
        if code.isascii() and code.isdigit() and totp.verify_token(code):
            return totp
    for static in StaticDevice.objects.filter(user=user, confirmed=True):
        if static.verify_token(recovery_code_hash(code)):
            return static
    return None


def reset_two_factor(*, user: User, actor: Actor) -> int:
    """Remove ``user``'s second factor (a lost phone): they enrol again at their next login.
    Returns how many devices were removed."""
    if user.tenant is None:
        _require_platform_actor(actor)
    else:
        _require_tenant_admin(actor, user.tenant)
    with transaction.atomic():
        removed = TOTPDevice.objects.filter(user=user).delete()[1].get(TOTPDevice._meta.label, 0)
        removed += (
            StaticDevice.objects.filter(user=user).delete()[1].get(StaticDevice._meta.label, 0)
        )
        _send("auth.two_factor_reset", user=user, actor=actor, details={"devices_removed": removed})
    return removed
