from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out

from tenants.login_security import forget_failed_logins
from tenants.models import LoginSession, User
from tenants.scoping import tenant_scope


def _remember_login(sender: Any, request: Any, user: Any, **_: Any) -> None:
    if isinstance(user, User) and user.tenant_id is not None and request.session.session_key:
        with tenant_scope(user.tenant_id):
            LoginSession(
                tenant_id=user.tenant_id, user=user, session_key=request.session.session_key
            ).save()


def _forget_login(sender: Any, request: Any, user: Any, **_: Any) -> None:
    if isinstance(user, User) and user.tenant_id is not None and request.session.session_key:
        with tenant_scope(user.tenant_id):
            LoginSession.objects.filter(user=user, session_key=request.session.session_key).delete()


def _forget_own_failed_logins(sender: Any, request: Any, user: Any, **_: Any) -> None:
    # Only the rows of this username: the address's count of other usernames' failures
    # stays, so one valid account does not reset a password sprayer's budget (axes' own
    # AXES_RESET_ON_SUCCESS would delete by address too).
    if isinstance(user, User):
        forget_failed_logins(user)


def connect() -> None:
    user_logged_in.connect(_remember_login, dispatch_uid="tenants.remember_login")
    user_logged_in.connect(_forget_own_failed_logins, dispatch_uid="tenants.forget_failures")
    user_logged_out.connect(_forget_login, dispatch_uid="tenants.forget_login")
