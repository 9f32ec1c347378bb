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
from django.utils.module_loading import import_string

from privacy.masking import mask_phone

logger = logging.getLogger(__name__)


class SmsBackend:
    def send(self, *, phone: str, text: str) -> None:
        raise NotImplementedError


class ConsoleSmsBackend(SmsBackend):
    def send(self, *, phone: str, text: str) -> None:
        logger.info("sms to %s: %s", mask_phone(phone), text)


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
