"""Text messages to customers (one-time codes), behind a settings-chosen backend.

``ConsoleSmsBackend`` (development) prints the message to the worker's log with a masked
number, as Django's console e-mail backend does; ``MemorySmsBackend`` keeps messages in
memory for tests; a production backend wraps an SMS gateway's API.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

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


@cache
def sms_backend() -> SmsBackend:
    backend = import_string(str(settings.BAOMI_SMS_BACKEND))()
    if not isinstance(backend, SmsBackend):
        raise TypeError(f"{settings.BAOMI_SMS_BACKEND} is not an SmsBackend")
    return backend
