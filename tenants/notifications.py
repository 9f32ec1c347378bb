"""Back-office notifications (issue 18): a mechanism every app uses to tell staff that
something waits for them — an anomaly opened for customer service, a legal clock running
out on an incident case.

- ``notify(tenant, users=..., roles=..., kind=..., params=..., link=..., dedup_key=...)``
  writes one ``Notification`` per recipient (active users of the tenant), inside the
  caller's transaction: a rolled-back change notifies nobody. With a ``dedup_key`` a user
  gets it once, however often the caller runs (a beat job running twice).
- The message is a registered ``kind`` and its ``params`` (codes and ids, never personal
  data), rendered when read, in the reader's language (``register_kind``, from the sending
  app's ``AppConfig.ready()``: tenants imports none of them). The link is a back-office path.
- The tenant's channel (``Tenant.notification_channel``, set on the tenant settings page,
  audited): the back office only (default), e-mail to the staff member's own address, or a
  webhook. External delivery runs in a Celery task queued after the commit, with the
  tenant's and the notification's ids only, retried with a doubling backoff; the request
  never waits for it.
- Webhook: ``POST <url>`` with a JSON body, signed ``X-Baomi-Signature: sha256=<hex>`` =
  HMAC-SHA256 over ``<X-Baomi-Timestamp>.<body>`` under the tenant's signing secret. The
  secret is derived from a random per-tenant salt under the server's HMAC key
  (``BAOMI_HMAC_KEY``, outside the database): a database dump alone does not give it. It is
  shown once, when made (or remade); remaking it changes the salt, and the old secret stops
  working (docs/decisions/0031-back-office-notifications.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core.hashing import keyed_hash
from tenants.actors import Actor
from tenants.models import Membership, Notification, Role, Tenant, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope
from tenants.signals import tenant_change

logger = logging.getLogger(__name__)

BACK_OFFICE, EMAIL, WEBHOOK = "back_office", "email", "webhook"
CHANNELS = (BACK_OFFICE, EMAIL, WEBHOOK)
WEBHOOK_PURPOSE = "notification-webhook"
WEBHOOK_URL_MAX_LENGTH = 500
WEBHOOK_TIMEOUT = 5.0
MAX_ANSWER_BYTES = 4096

# --- kinds -------------------------------------------------------------------------------

_kinds: dict[str, Callable[[dict[str, Any]], str]] = {}


def register_kind(kind: str, render: Callable[[dict[str, Any]], str]) -> None:
    """``render(params)``: the message of a notification of ``kind``, in the active
    language (short, one line, no personal data)."""
    _kinds[kind] = render


def message_of(notification: Notification) -> str:
    render = _kinds.get(notification.kind)
    if render is None:
        return _("Notification: %(kind)s") % {"kind": notification.kind}
    try:
        return render(dict(notification.params or {}))
    except (KeyError, ValueError, TypeError):
        return _("Notification: %(kind)s") % {"kind": notification.kind}


def _check_params(params: dict[str, Any]) -> None:
    for name, value in params.items():
        if not isinstance(name, str) or not (value is None or isinstance(value, bool | int | str)):
            raise TypeError("Notification parameters are codes and ids (str, int, bool).")
        if isinstance(value, str) and len(value) > 64:
            raise TypeError("Notification parameters are short codes, not texts.")


# --- writing -----------------------------------------------------------------------------


def _recipients(
    tenant: Tenant, users: Iterable[User | int] | None, roles: Iterable[str] | None
) -> list[User]:
    ids = {u.pk if isinstance(u, User) else int(u) for u in (users or [])}
    wanted_roles = [Role(role).value for role in (roles or [])]
    if wanted_roles:
        ids |= set(
            Membership.objects.filter(role__in=wanted_roles).values_list("user_id", flat=True)
        )
    if not ids:
        return []
    return list(User.objects.filter(pk__in=ids, tenant=tenant, is_active=True).order_by("pk"))


def notify(
    tenant: Tenant,
    *,
    users: Iterable[User | int] | None = None,
    roles: Iterable[str] | None = None,
    kind: str,
    params: dict[str, Any] | None = None,
    link: str = "",
    dedup_key: str = "",
) -> list[Notification]:
    """Notify ``users`` and the holders of ``roles`` in ``tenant`` (active users of the
    tenant only; each once). Returns the notifications written; a user who already has one
    with this ``dedup_key`` gets none. External delivery is queued after the commit."""
    params = dict(params or {})
    _check_params(params)
    if link and (
        not link.startswith("/") or link.startswith("//") or "\\" in link or len(link) > 300
    ):
        raise ValueError("A notification's link is a back-office path.")
    if kind not in _kinds:
        raise ValueError(f"Unknown notification kind {kind!r}: register it first.")
    channel = tenant.notification_channel if tenant.notification_channel != BACK_OFFICE else ""
    written: list[Notification] = []
    with transaction.atomic(), tenant_scope(tenant):
        for user in _recipients(tenant, users, roles):
            if dedup_key and Notification.objects.filter(user=user, dedup_key=dedup_key).exists():
                continue
            notification = Notification(
                tenant=tenant,
                user=user,
                kind=kind,
                params=params,
                link=link,
                dedup_key=dedup_key[:100],
                channel=channel,
            )
            try:
                with transaction.atomic():  # a concurrent run wrote it first: once is enough
                    notification.save(force_insert=True)
            except IntegrityError:
                continue
            written.append(notification)
    if channel:
        from tenants.tasks import deliver_notification

        for notification in written:
            deliver_notification.delay_on_commit(tenant.pk, notification.pk)
    return written


# --- the inbox ---------------------------------------------------------------------------


def inbox_of(user: User, *, limit: int = 100) -> list[Notification]:
    """The user's latest notifications, unread first (inside the request's scope)."""
    return list(
        Notification.objects.filter(user=user).order_by("read_at", "-created_at", "-pk")[:limit]
    )


def unread_count(user: Any) -> int:
    """One indexed count: the badge beside the inbox in the sidebar."""
    if not isinstance(user, User) or user.tenant_id is None:
        return 0
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notification_of(user: User, notification_id: int) -> Notification | None:
    """The user's own notification, or None (another user's or tenant's: not found)."""
    return Notification.objects.filter(pk=notification_id, user=user).first()


def mark_read(*, user: User, notification_id: int) -> Notification | None:
    notification = notification_of(user, notification_id)
    if notification is not None and notification.read_at is None:
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
            read_at=timezone.now()
        )
    return notification


def mark_all_read(*, user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).update(
        read_at=timezone.now()
    )


# --- the tenant's channel ----------------------------------------------------------------


def webhook_secret(tenant: Tenant) -> str:
    """The tenant's signing secret (empty until one was made)."""
    if not tenant.notification_webhook_salt:
        return ""
    return "bmw_" + keyed_hash(WEBHOOK_PURPOSE, tenant.pk, tenant.notification_webhook_salt)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def clean_webhook_url(url: str) -> str:
    url = (url or "").strip()
    if not url:
        return ""
    parts = urlsplit(url)
    production = getattr(settings, "BAOMI_ENV", "") == "production"
    allowed = ("https",) if production else ("https", "http")
    if (
        parts.scheme not in allowed
        or not parts.hostname
        or len(url) > WEBHOOK_URL_MAX_LENGTH
        or any(ord(c) < 0x21 for c in url)
    ):
        raise ValidationError({"notification_webhook_url": _("Enter an https:// URL.")})
    if parts.username is not None or parts.password is not None:
        raise ValidationError(
            {"notification_webhook_url": _("The URL must not hold a user name or password.")}
        )
    return url


def may_set_channel(actor: Actor, tenant: Tenant) -> bool:
    return (
        isinstance(actor, User)
        and actor.is_active
        and actor.tenant_id == tenant.pk
        and has_role(actor, Role.TENANT_ADMIN)
    )


def change_notification_channel(
    *, tenant: Tenant, channel: str, webhook_url: str, new_secret: bool, actor: Actor
) -> tuple[list[str], str]:
    """A tenant administrator chooses how staff hear of notifications outside the back
    office. A webhook needs a URL; its signing secret is made the first time (or remade on
    request) and returned once, in clear: ``(changed fields, secret or "")``. Audited
    (``tenant.notification_channel_changed``: the channel, whether the URL changed and
    whether a secret was made; never the URL or the secret)."""
    if not may_set_channel(actor, tenant):
        raise PermissionDenied(_("Only an administrator of this tenant may do this."))
    if channel not in CHANNELS:
        raise ValidationError({"notification_channel": _("Choose a channel.")})
    url = clean_webhook_url(webhook_url)
    if channel == WEBHOOK and not url:
        raise ValidationError(
            {"notification_webhook_url": _("A webhook needs the URL to send it to.")}
        )
    with transaction.atomic(), tenant_scope(tenant):
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        changed = []
        if locked.notification_channel != channel:
            locked.notification_channel = channel
            changed.append("notification_channel")
        if locked.notification_webhook_url != url:
            locked.notification_webhook_url = url
            changed.append("notification_webhook_url")
        make_secret = channel == WEBHOOK and (new_secret or not locked.notification_webhook_salt)
        if make_secret:
            locked.notification_webhook_salt = secrets.token_hex(16)
            changed.append("notification_webhook_salt")
        if not changed:
            return [], ""
        locked.save(update_fields=changed)
        tenant_change.send(
            sender=Tenant,
            action="tenant.notification_channel_changed",
            actor=actor,
            tenant=locked,
            target=locked,
            details={
                "channel": channel,
                "url_changed": "notification_webhook_url" in changed,
                "secret_made": make_secret,
            },
        )
    for name in changed:
        setattr(tenant, name, getattr(locked, name))
    return changed, webhook_secret(locked) if make_secret else ""


# --- external delivery (the Celery task's body) -------------------------------------------


class DeliveryFailed(Exception):
    """An e-mail or webhook delivery failed; the message names the kind of failure only."""


def _absolute(link: str) -> str:
    base = str(getattr(settings, "BAOMI_BACK_OFFICE_URL", "") or "").rstrip("/")
    return f"{base}{link}" if link else base


def _post_webhook(tenant: Tenant, notification: Notification, text: str) -> None:
    url, secret = tenant.notification_webhook_url, webhook_secret(tenant)
    if not url or not secret:
        raise DeliveryFailed("webhook not configured")
    body = json.dumps(
        {
            "id": notification.pk,
            "tenant": tenant.slug,
            "user": notification.user.username,
            "kind": notification.kind,
            "params": notification.params,
            "message": text,
            "link": _absolute(notification.link),
            "created_at": notification.created_at.isoformat(),
        },
        ensure_ascii=False,
    ).encode()
    timestamp = str(int(time.time()))
    request = urllib.request.Request(  # noqa: S310 - clean_webhook_url admits http(s) only
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Baomi",
            "X-Baomi-Delivery": str(notification.pk),
            "X-Baomi-Timestamp": timestamp,
            "X-Baomi-Signature": sign(secret, timestamp, body),
        },
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=WEBHOOK_TIMEOUT) as answer:
            answer.read(MAX_ANSWER_BYTES)
    except urllib.error.HTTPError as error:
        error.close()
        raise DeliveryFailed(f"webhook answered HTTP {error.code}") from None
    except OSError as error:
        raise DeliveryFailed(f"webhook could not be reached ({type(error).__name__})") from None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def deliver(tenant: Tenant, notification_id: int) -> bool:
    """Send one notification by the channel it was made for (inside the tenant's scope).
    True when sent now; False when there is nothing to send (already sent, back office
    only, no e-mail address). Raises ``DeliveryFailed`` for the task to retry."""
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update()
            .filter(pk=notification_id, delivered_at__isnull=True)
            .first()
        )
        if notification is None or not notification.channel:
            return False
        Notification.objects.filter(pk=notification.pk).update(attempts=notification.attempts + 1)
    user = notification.user
    with translation.override(settings.LANGUAGE_CODE):
        text = message_of(notification)
        if notification.channel == EMAIL:
            if not user.email:
                return False
            link = _absolute(notification.link)
            try:
                send_mail(
                    subject=_("Baomi: %(message)s") % {"message": text},
                    message=f"{text}\n\n{link}\n" if link else f"{text}\n",
                    from_email=None,
                    recipient_list=[user.email],
                )
            except OSError as error:
                raise DeliveryFailed(f"e-mail failed ({type(error).__name__})") from None
        elif notification.channel == WEBHOOK:
            _post_webhook(tenant, notification, text)
        else:
            return False
    Notification.objects.filter(pk=notification.pk).update(delivered_at=timezone.now())
    return True
