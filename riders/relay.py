"""Number privacy: the rider calls a relay (virtual) number bound to one assignment; the
relay bridges to the customer's real number, which never reaches the rider's browser.

The backend is chosen with settings.BAOMI_CALL_RELAY_BACKEND. ``ConsoleRelayBackend`` is
the development backend: it allocates a virtual number per assignment and logs each bridged
call with ids only. A production backend wraps a telephony provider's API the same way.
"""

from __future__ import annotations

import hashlib
import logging
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class RelayBackend:
    def bind(self, *, assignment_id: int, customer_phone: str) -> str:
        """Bind a virtual number to the customer's phone for this assignment; return it."""
        raise NotImplementedError

    def release(self, *, assignment_id: int) -> None:
        """End the binding: the virtual number stops reaching the customer."""
        raise NotImplementedError


class ConsoleRelayBackend(RelayBackend):
    """Development relay: a stable virtual number per assignment, calls logged by id."""

    def bind(self, *, assignment_id: int, customer_phone: str) -> str:
        digits = int(hashlib.sha256(f"relay|{assignment_id}".encode()).hexdigest(), 16) % 10**8
        virtual = f"+86 950 {digits // 10**4:04d} {digits % 10**4:04d}"
        # The customer's number stays in this process; the log names the assignment only.
        logger.info("relay: assignment %s bridged through %s", assignment_id, virtual)
        return virtual

    def release(self, *, assignment_id: int) -> None:
        logger.info("relay: assignment %s released", assignment_id)


@cache
def relay_backend() -> RelayBackend:
    backend = import_string(str(settings.BAOMI_CALL_RELAY_BACKEND))()
    if not isinstance(backend, RelayBackend):
        raise TypeError(f"{settings.BAOMI_CALL_RELAY_BACKEND} is not a RelayBackend")
    return backend
