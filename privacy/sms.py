"""Text messages to customers (one-time codes), behind a settings-chosen backend.

``ConsoleSmsBackend`` (development) prints the message to the worker's log without the
number, as Django's console e-mail backend does; ``MemorySmsBackend`` keeps messages in
memory for tests. Production refuses both (config/gateways.py) and uses ``HttpSmsBackend``:

    BAOMI_SMS_BACKEND=privacy.sms.HttpSmsBackend
    BAOMI_SMS_GATEWAY_URL=https://sms.example.com/v1/messages
    BAOMI_SMS_GATEWAY_TOKEN=...        (or BAOMI_SMS_GATEWAY_TOKEN_FILE=/run/secrets/...)
    BAOMI_SMS_GATEWAY_TIMEOUT=5        (seconds per attempt)
    BAOMI_SMS_GATEWAY_RETRIES=2        (after a connection error, timeout or 5xx only)

Each message is one ``POST`` of ``{"to": "13812345678", "text": "<message>"}`` (the number
in its stored normal form: mainland numbers without +86, others with their +country code)
with ``Authorization: Bearer <token>`` and an ``Idempotency-Key`` kept over retries; any
2xx answer is success and its body is ignored (docs/gateways.md). A failure raises
``config.gateways.GatewayError``, which names neither the number nor the text.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from config.gateways import GatewayConfig, post_json
from privacy.errors import VaultError
from privacy.permissions import Purpose
from privacy.reveal import reveal
from tenants.actors import SystemActor

logger = logging.getLogger(__name__)


class SmsBackend:
    def send(self, *, phone: str, text: str) -> None:
        raise NotImplementedError


class ConsoleSmsBackend(SmsBackend):
    """Development only: the message goes to the worker's log so the demo's one-time codes
    can be read there. The number is never logged; production refuses this backend."""

    def __init__(self) -> None:
        if settings.PRODUCTION:
            raise ImproperlyConfigured(
                "ConsoleSmsBackend is for development; set BAOMI_SMS_BACKEND."
            )

    def send(self, *, phone: str, text: str) -> None:
        logger.info("sms (development console, recipient not logged): %s", text)


class MemorySmsBackend(SmsBackend):
    outbox: ClassVar[list[tuple[str, str]]] = []

    def send(self, *, phone: str, text: str) -> None:
        self.outbox.append((phone, text))


class HttpSmsBackend(SmsBackend):
    """An SMS gateway reached over HTTPS (settings.BAOMI_SMS_GATEWAY). Logs nothing."""

    def __init__(self, gateway: GatewayConfig | None = None) -> None:
        configured = gateway or settings.BAOMI_SMS_GATEWAY
        if configured is None:
            raise ImproperlyConfigured(
                "HttpSmsBackend needs BAOMI_SMS_GATEWAY_URL and BAOMI_SMS_GATEWAY_TOKEN "
                "(or BAOMI_SMS_GATEWAY_TOKEN_FILE)."
            )
        self.gateway: GatewayConfig = configured

    def send(self, *, phone: str, text: str) -> None:
        post_json(self.gateway, {"to": phone, "text": text})


@cache
def sms_backend() -> SmsBackend:
    backend = import_string(str(settings.BAOMI_SMS_BACKEND))()
    if not isinstance(backend, SmsBackend):
        raise TypeError(f"{settings.BAOMI_SMS_BACKEND} is not an SmsBackend")
    return backend


class SmsNotSent(VaultError):
    """The text to the customer could not be sent (the gateway failed or refused). Its
    message names the backend's error type only: never the number or the text."""


def text_customer(record: Any, *, actor: SystemActor, purpose: str, text: str) -> None:
    """Send ``text`` to the phone of ``record`` (a sealed record with a ``phone`` field).

    The number is revealed for ``actor`` and ``purpose`` (a system purpose: an audited
    ``privacy.reveal``, committed in its own transaction, so call this outside any
    transaction and never under a row lock) and handed to the SMS backend; it never leaves
    this function. Raises ``SmsNotSent`` when the backend fails, ``RevealDenied`` or a vault
    error when the number cannot be revealed (an erased customer)."""
    if purpose not in (
        Purpose.DELIVERY_PIN_SMS,
        Purpose.IDENTITY_VERIFICATION,
        Purpose.INCIDENT_NOTICE,
    ):
        raise ValueError(f"not a purpose for sending a text: {purpose}")
    phone = reveal(record, fields=["phone"], actor=actor, purpose=purpose)["phone"]
    try:
        sms_backend().send(phone=phone, text=text)
    except Exception as error:  # any backend failure: a message for the caller, no 500
        logger.warning("sms: sending failed (%s)", type(error).__name__)
        # Not chained: an unknown backend's error text could repeat the number or the text.
        raise SmsNotSent(type(error).__name__) from None
