"""Events from earlier layers that are recorded in the audit log."""

from __future__ import annotations

import logging
from typing import Any

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_login_failed

from audits.services import record_event
from tenants.actors import SystemActor
from tenants.models import User
from tenants.selectors import user_named
from tenants.signals import tenant_change

logger = logging.getLogger("baomi.auth")
_LOGIN_GUARD = SystemActor("login-guard")


def _record_tenant_change(
    sender: Any,
    *,
    action: str,
    actor: Any,
    tenant: Any,
    target: Any,
    details: dict[str, Any] | None = None,
    **_: Any,
) -> None:
    record_event(tenant=tenant, actor=actor, action=action, target=target, details=details)


def _user_named(username: Any) -> User | None:
    if not isinstance(username, str) or not username:
        return None
    return user_named(username)


def _record_login_event(action: str, username: Any, details: dict[str, Any]) -> None:
    """In the user's tenant's log, naming the user by id; never the password or the typed
    username. An operator's or an unknown username's event is one log line without it."""
    user = _user_named(username)
    if user is not None and user.tenant is not None:
        record_event(
            tenant=user.tenant, actor=_LOGIN_GUARD, action=action, target=user, details=details
        )
    elif user is not None:
        logger.warning("%s platform operator user:%s", action, user.pk)
    else:
        logger.info("%s unknown username", action)


def _record_login_failed(
    sender: Any, *, credentials: dict[str, Any], request: Any = None, **_: Any
) -> None:
    locked = bool(getattr(request, "axes_locked_out", False))
    _record_login_event(
        "auth.login_failed", credentials.get("username"), {"while_locked_out": locked}
    )


def _record_locked_out(sender: Any, *, username: Any = None, **_: Any) -> None:
    _record_login_event(
        "auth.locked_out",
        username,
        {
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "cooloff_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
        },
    )


def connect() -> None:
    tenant_change.connect(_record_tenant_change, dispatch_uid="audits.tenant_change")
    user_login_failed.connect(_record_login_failed, dispatch_uid="audits.login_failed")
    user_locked_out.connect(_record_locked_out, dispatch_uid="audits.locked_out")
