"""Number privacy: the rider calls a relay (virtual) number bound to one assignment; the
relay bridges to the customer's real number, which never reaches the rider's browser.

The backend is chosen with settings.BAOMI_CALL_RELAY_BACKEND. ``ConsoleRelayBackend`` is
the development backend: it allocates a virtual number per assignment and logs each bridged
call with ids only; production refuses it (config/gateways.py) and uses ``HttpRelayBackend``:

    BAOMI_CALL_RELAY_BACKEND=riders.relay.HttpRelayBackend
    BAOMI_CALL_RELAY_GATEWAY_URL=https://relay.example.com/v1/bindings
    BAOMI_CALL_RELAY_GATEWAY_TOKEN=...   (or BAOMI_CALL_RELAY_GATEWAY_TOKEN_FILE=...)
    BAOMI_CALL_RELAY_GATEWAY_TIMEOUT=5   (seconds per attempt)
    BAOMI_CALL_RELAY_GATEWAY_RETRIES=2   (after a connection error, timeout or 5xx only)

Both operations ``POST`` JSON to that one URL with ``Authorization: Bearer <token>`` and an
``Idempotency-Key`` kept over retries (docs/gateways.md):

- bind: ``{"action": "bind", "assignment": 42, "customer_phone": "13812345678"}``; the
  gateway answers 2xx with ``{"virtual_number": "+86 950 1234 5678"}`` (the same number
  again for an assignment already bound) and bridges calls to it to the customer;
- release: ``{"action": "release", "assignment": 42}``; any 2xx answer (also for an unknown
  or already released assignment): the number stops reaching the customer.

A failure raises ``RelayUnavailable``, a ``Conflict``: the rider's page shows its message.
Its cause, a ``config.gateways.GatewayError``, and the one log line name the assignment and
the failure only, never the number. Neither call runs inside a database transaction (no
network call under a row lock): ``riders.delivery.call_customer`` binds between two short
transactions, and the end of an assignment releases its binding after its transaction
commits, through ``release_binding``, which logs a failure instead of raising it (the
assignment has ended either way; the operator releases the number by hand).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from functools import cache
from typing import Any, NoReturn

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from config.gateways import GatewayConfig, GatewayError, post_json
from core.errors import Conflict

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


class RelayUnavailable(Conflict):
    """The call relay failed; the message is for the rider, the cause for the operator."""

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        super().__init__(
            message
            or _(
                "The call relay is not answering. Try again in a minute or call customer service."
            ),
            **extra,
        )


# What a virtual number may look like: digits, spaces, dashes, parentheses, a leading +.
_VIRTUAL_NUMBER = re.compile(r"^\+?[0-9][0-9 ()\-]{2,30}$")


class HttpRelayBackend(RelayBackend):
    """A telephony provider's relay reached over HTTPS (settings.BAOMI_CALL_RELAY_GATEWAY)."""

    def __init__(self, gateway: GatewayConfig | None = None) -> None:
        configured = gateway or settings.BAOMI_CALL_RELAY_GATEWAY
        if configured is None:
            raise ImproperlyConfigured(
                "HttpRelayBackend needs BAOMI_CALL_RELAY_GATEWAY_URL and "
                "BAOMI_CALL_RELAY_GATEWAY_TOKEN (or BAOMI_CALL_RELAY_GATEWAY_TOKEN_FILE)."
            )
        self.gateway: GatewayConfig = configured

    def _post(self, assignment_id: int, payload: dict[str, Any]) -> bytes:
        try:
            return post_json(self.gateway, payload)
        except GatewayError as error:
            self._unavailable(assignment_id, payload["action"], error)

    def _unavailable(self, assignment_id: int, action: str, error: GatewayError) -> NoReturn:
        logger.warning("relay: %s of assignment %s failed: %s", action, assignment_id, error)
        raise RelayUnavailable() from error

    def bind(self, *, assignment_id: int, customer_phone: str) -> str:
        answer = self._post(
            assignment_id,
            {"action": "bind", "assignment": assignment_id, "customer_phone": customer_phone},
        )
        try:
            virtual = json.loads(answer).get("virtual_number")
        except (ValueError, AttributeError):
            virtual = None
        if not isinstance(virtual, str) or not _VIRTUAL_NUMBER.match(virtual):
            # The answer itself is not repeated: it could echo the customer's number.
            error = GatewayError(
                f"{self.gateway.label} answered without a usable virtual_number.", attempts=1
            )
            self._unavailable(assignment_id, "bind", error)
        logger.info("relay: assignment %s bound", assignment_id)
        return str(virtual)

    def release(self, *, assignment_id: int) -> None:
        self._post(assignment_id, {"action": "release", "assignment": assignment_id})
        logger.info("relay: assignment %s released", assignment_id)


@cache
def relay_backend() -> RelayBackend:
    backend = import_string(str(settings.BAOMI_CALL_RELAY_BACKEND))()
    if not isinstance(backend, RelayBackend):
        raise TypeError(f"{settings.BAOMI_CALL_RELAY_BACKEND} is not a RelayBackend")
    return backend


def release_binding(assignment_id: int) -> None:
    """Release the relay binding of an assignment that has ended; a failure is logged (ids
    and the error's type only), never raised: run after the ending transaction commits."""
    try:
        relay_backend().release(assignment_id=assignment_id)
    except Exception as error:  # any backend failure: logged, not fatal
        logger.error(
            "relay: release of assignment %s failed (%s); release it by hand",
            assignment_id,
            type(error).__name__,
        )
