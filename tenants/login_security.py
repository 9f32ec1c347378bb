"""Login protection: failed logins counted by username and by address (django-axes).

After ``AXES_FAILURE_LIMIT`` failures within ``AXES_COOLOFF_TIME`` the username, or the
address, is refused before any password is checked, until the cool-off ends or a tenant
administrator unlocks the user. The audit log records failures and lockouts (audits.receivers).
"""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.utils import reset
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from tenants.actors import Actor
from tenants.models import User
from tenants.services import _require_platform_actor, _require_tenant_admin
from tenants.signals import tenant_change


class LoginAttemptBackend(AxesStandaloneBackend):
    """Refuses a locked-out username or address. Every login over HTTP (the admin's, the
    rider page's) passes the request; a call without one (a shell, the test client's
    ``login``) cannot come from a client and is left to the next backend."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def client_description(
    username: Any, ip_address: Any, user_agent: Any, path_info: Any, request: Any
) -> str:
    """How axes' log lines name a client: the login page only, never who or from where."""
    if isinstance(path_info, (tuple, list)):
        path_info = path_info[0] if path_info else ""
    return f"{{login page: {path_info}}}"


def cooloff_minutes() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any
) -> HttpResponse:
    """The page a locked-out login gets: 429, what to do, no username echoed back."""
    response = TemplateResponse(
        request,
        "tenants/locked_out.html",
        {"minutes": cooloff_minutes(), "failure_limit": settings.AXES_FAILURE_LIMIT},
        status=429,
    )
    response["Cache-Control"] = "no-store"
    return response.render()


def forget_failed_logins(user: User) -> int:
    """After a successful login: the user's own failed attempts no longer count."""
    return int(reset(username=user.get_username()))


def unlock_login(*, user: User, actor: Actor) -> int:
    """Lift ``user``'s login lockout (their failed attempts are forgotten). Returns how
    many attempt records were removed."""
    if user.tenant is None:
        _require_platform_actor(actor)  # an operator is unlocked by another operator
    else:
        _require_tenant_admin(actor, user.tenant)
    with transaction.atomic():
        removed = reset(username=user.get_username())
        if user.tenant is not None:
            tenant_change.send(
                sender=User,
                action="auth.login_unlocked",
                actor=actor,
                tenant=user.tenant,
                target=user,
                details={"attempts_removed": removed},
            )
    return removed
