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
- What leaves: the notification's id, kind, time, the tenant's slug and the absolute
  back-office link (``BAOMI_BACK_OFFICE_URL``); never order codes or names.
- Webhook: only to hosts resolving to public addresses, checked when saved and again when
  sent, connecting to the checked address (``clean_webhook_url``, ``_PinnedHTTPSConnection``).
  ``POST <url>`` with a JSON body, signed ``X-Baomi-Signature: sha256=<hex>`` =
  HMAC-SHA256 over ``<X-Baomi-Timestamp>.<body>`` under the tenant's signing secret. The
  secret is derived from a random per-tenant salt under the server's HMAC key
  (``BAOMI_HMAC_KEY``, outside the database): a database dump alone does not give it. It is
  shown once, when made (or remade); remaking it changes the salt, and the old secret stops
  working (docs/decisions/0011-back-office-notifications.md).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
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
SENDING_LEASE = 300  # seconds a delivery run's claim holds (see ``deliver``)
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

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


def _invalid(message: str) -> ValidationError:
    return ValidationError({"notification_webhook_url": message})


def _resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (a seam for the tests)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _ip_literal(host: str) -> IPAddress | None:
    """``host`` as an IP address when it is one, in any spelling a resolver accepts
    (``127.1``, ``0x7f000001``, ``2130706433``, ``[::1]``), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        pass
    try:
        return ipaddress.ip_address(socket.inet_aton(host))
    except OSError:
        return None


def address_allowed(address: IPAddress) -> bool:
    """A webhook may be sent to a global unicast address only; with
    ``BAOMI_WEBHOOK_ALLOW_PRIVATE`` (never in production) also to loopback and private
    addresses, for local testing. Link-local (cloud metadata), multicast, reserved and
    unspecified addresses never."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_multicast or address.is_unspecified or address.is_link_local:
        return False
    if address.is_reserved and not address.is_loopback:  # ::1 lies in the reserved ::/8
        return False
    if address.is_global and not (address.is_private or address.is_loopback):
        return True
    return bool(getattr(settings, "BAOMI_WEBHOOK_ALLOW_PRIVATE", False)) and (
        address.is_loopback or address.is_private
    )


def _allowed_addresses(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, all allowed; raises ``ValueError`` otherwise
    (no address, or any of them not allowed: a name that also points inside is refused)."""
    addresses = [ipaddress.ip_address(a.split("%")[0]) for a in _resolve(host, port)]
    if not addresses or not all(address_allowed(a) for a in addresses):
        raise ValueError("webhook host not allowed")
    return addresses


def _webhook_target(url: str) -> tuple[str, str, int]:
    """``(scheme, ASCII host, port)`` of a webhook URL; raises ``ValueError`` (or
    ``UnicodeError``, a ``ValueError``) for a bad port or host."""
    parts = urlsplit(url)
    port = parts.port  # ValueError: not a number, or out of range
    host = (parts.hostname or "").encode("idna").decode("ascii")
    if not host:
        raise ValueError("no host")
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    if not 0 < port < 65536:
        raise ValueError("bad port")
    return parts.scheme, host, port


def clean_webhook_url(url: str) -> str:
    """The URL a tenant administrator entered, checked: https (http too outside
    production), no credentials, a valid host name (IDNA) and port (in production one of
    ``BAOMI_WEBHOOK_PORTS``), not an IP address and resolving to public addresses only
    (``address_allowed``). Delivery checks the addresses again and connects to them."""
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
        raise _invalid(_("Enter an https:// URL."))
    if parts.username is not None or parts.password is not None:
        raise _invalid(_("The URL must not hold a user name or password."))
    try:
        _scheme, host, port = _webhook_target(url)
    except ValueError:
        raise _invalid(_("Enter a valid host name and port.")) from None
    ports = getattr(settings, "BAOMI_WEBHOOK_PORTS", [443])
    if production and port not in ports:
        raise _invalid(
            _("The URL's port must be one of: %(ports)s.")
            % {"ports": ", ".join(str(p) for p in ports)}
        )
    literal = _ip_literal(host)
    if literal is not None and not (
        getattr(settings, "BAOMI_WEBHOOK_ALLOW_PRIVATE", False) and address_allowed(literal)
    ):
        raise _invalid(_("Enter a host name, not an IP address."))
    try:
        _allowed_addresses(host, port)
    except (OSError, ValueError):
        raise _invalid(
            _("The URL's host must resolve to public internet addresses only.")
        ) from None
    return url


def masked_webhook_url(url: str) -> str:
    """``scheme://host/…``: enough to recognise the saved URL, none of its path or query
    (where receivers put their tokens)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/…" if url else ""


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
    whether a secret was made; never the URL or the secret). For the webhook channel an
    empty URL keeps the saved one (the settings page shows it masked, never whole)."""
    if not may_set_channel(actor, tenant):
        raise PermissionDenied(_("Only an administrator of this tenant may do this."))
    if channel not in CHANNELS:
        raise ValidationError({"notification_channel": _("Choose a channel.")})
    url = clean_webhook_url(webhook_url)
    if channel == WEBHOOK and not url:  # empty: keep the saved one (the page never shows it)
        url = tenant.notification_webhook_url
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


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to ``address``, the one checked, never to a second lookup of the host name
    (the Host header still names the host)."""

    def __init__(self, host: str, port: int, *, address: IPAddress, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def _open(self) -> socket.socket:
        return socket.create_connection((str(self.address), self.port), self.timeout)

    def connect(self) -> None:
        self.sock = self._open()


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to ``address``, the one checked; the certificate is verified against the host
    name (``server_hostname``), as for any https request."""

    def __init__(self, host: str, port: int, *, address: IPAddress, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self) -> None:
        raw = socket.create_connection((str(self.address), self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


def webhook_body(tenant: Tenant, notification: Notification) -> bytes:
    """What leaves the platform: the notification's id and kind, when, the tenant's slug
    and the back-office link; no order codes, no names: the receiver opens the back office."""
    return json.dumps(
        {
            "id": notification.pk,
            "tenant": tenant.slug,
            "kind": notification.kind,
            "link": _absolute(notification.link),
            "created_at": notification.created_at.isoformat(),
        },
        ensure_ascii=False,
    ).encode()


def _post_webhook(tenant: Tenant, notification: Notification) -> None:
    url, secret = tenant.notification_webhook_url, webhook_secret(tenant)
    if not url or not secret:
        raise DeliveryFailed("webhook not configured")
    try:
        scheme, host, port = _webhook_target(url)
        addresses = _allowed_addresses(host, port)
    except (OSError, ValueError) as error:
        raise DeliveryFailed(f"webhook host refused ({type(error).__name__})") from None
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    body = webhook_body(tenant, notification)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Baomi",
        "X-Baomi-Delivery": str(notification.pk),
        "X-Baomi-Timestamp": timestamp,
        "X-Baomi-Signature": sign(secret, timestamp, body),
    }
    connection_class = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(host, port, address=addresses[0], timeout=WEBHOOK_TIMEOUT)
    try:
        connection.request("POST", path, body=body, headers=headers)
        answer = connection.getresponse()
        answer.read(MAX_ANSWER_BYTES)
        status = answer.status
    except Exception as error:  # any transport failure is retried, never a crash
        raise DeliveryFailed(f"webhook could not be reached ({type(error).__name__})") from None
    finally:
        connection.close()
    if not 200 <= status < 300:  # redirects (3xx) are not followed
        raise DeliveryFailed(f"webhook answered HTTP {status}")


def deliver(tenant: Tenant, notification_id: int) -> bool:
    """Send one notification by the channel it was made for (inside the tenant's scope).
    True when sent now; False when there is nothing to send (already sent or being sent,
    back office only, no e-mail address). Raises ``DeliveryFailed`` for the task to retry.

    At least once, never twice at the same time: the run claims the notification under its
    row lock (``sending_since``) before it sends, and a concurrent run (a redelivered task)
    skips it. A run that fails gives the claim back for its retry; a worker that dies while
    sending leaves a claim that expires after ``SENDING_LEASE`` seconds, and the redelivered
    task then sends again: the receiver may see a repeat, with the same
    ``X-Baomi-Delivery`` id, and drops it (better twice than never)."""
    now = timezone.now()
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update()
            .filter(pk=notification_id, delivered_at__isnull=True)
            .first()
        )
        if notification is None or not notification.channel:
            return False
        if notification.sending_since is not None and notification.sending_since > now - (
            timedelta(seconds=SENDING_LEASE)
        ):
            return False
        Notification.objects.filter(pk=notification.pk).update(
            attempts=notification.attempts + 1, sending_since=now
        )
    try:
        sent = _send(tenant, notification)
    except BaseException:
        Notification.objects.filter(pk=notification.pk).update(sending_since=None)
        raise
    Notification.objects.filter(pk=notification.pk).update(
        sending_since=None, **({"delivered_at": timezone.now()} if sent else {})
    )
    return sent


def _send(tenant: Tenant, notification: Notification) -> bool:
    if notification.channel == EMAIL:
        user = notification.user
        if not user.email:
            return False
        link = _absolute(notification.link)
        with translation.override(settings.LANGUAGE_CODE):
            subject = _("Baomi: a new notification")
            text = _("Something waits for you in the back office.")
        try:
            send_mail(
                subject=subject,
                message=f"{text}\n\n{link}\n" if link else f"{text}\n",
                from_email=None,
                recipient_list=[user.email],
            )
        except Exception as error:  # SMTP, BadHeaderError, ...: retried, never a crash
            raise DeliveryFailed(f"e-mail failed ({type(error).__name__})") from None
        return True
    if notification.channel == WEBHOOK:
        _post_webhook(tenant, notification)
        return True
    return False
