"""HTTP gateways to outside services (the SMS gateway, the call relay): their configuration
from the environment, production's refusal of what cannot work there, and one JSON POST
client on the standard library (docs/gateways.md).

Each gateway reads, under its prefix (``BAOMI_SMS_GATEWAY``, ``BAOMI_CALL_RELAY_GATEWAY``):

- ``<PREFIX>_URL``: the endpoint; ``https://`` in production (``http://`` only outside it).
- ``<PREFIX>_TOKEN`` or ``<PREFIX>_TOKEN_FILE``: the bearer credential (one of the two).
- ``<PREFIX>_TIMEOUT``: seconds per attempt (default 5).
- ``<PREFIX>_RETRIES``: attempts after the first one, made only after a connection error, a
  timeout or a 5xx answer, never after a 4xx (default 2).

Every request is ``POST <URL>`` with a JSON body, ``Authorization: Bearer <token>`` and an
``Idempotency-Key`` that stays the same over the retries of one call, so that a gateway that
did act before failing can drop the repeat. Redirects are not followed (they would carry the
credential elsewhere). A failure raises :class:`GatewayError`, whose message names the
gateway, the status or kind of failure and the attempts: never the body sent or received,
which hold phone numbers and message text. Nothing here logs either.

This module loads with the settings: it reads the environment and never Django's settings.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from config.env import env_int, env_str

logger = logging.getLogger(__name__)

# Largest answer read from a gateway (the relay's answer is a few dozen bytes).
MAX_ANSWER_BYTES = 64 * 1024


class Service(NamedTuple):
    label: str
    http_backend: str
    prefix: str
    development_backends: tuple[str, ...]


SERVICES = {
    "BAOMI_SMS_BACKEND": Service(
        label="SMS gateway",
        http_backend="privacy.sms.HttpSmsBackend",
        prefix="BAOMI_SMS_GATEWAY",
        development_backends=("privacy.sms.ConsoleSmsBackend", "privacy.sms.MemorySmsBackend"),
    ),
    "BAOMI_CALL_RELAY_BACKEND": Service(
        label="call relay gateway",
        http_backend="riders.relay.HttpRelayBackend",
        prefix="BAOMI_CALL_RELAY_GATEWAY",
        development_backends=("riders.relay.ConsoleRelayBackend",),
    ),
}


@dataclass(frozen=True)
class GatewayConfig:
    """Where and how to reach one gateway. The credential stays out of ``repr`` (settings
    dumps, error pages)."""

    label: str
    url: str
    token: str = field(repr=False)
    timeout: float = 5.0
    retries: int = 2
    # Seconds before the first retry; doubled before each further one.
    backoff: float = 0.25

    def __post_init__(self) -> None:
        if urlsplit(self.url).scheme not in ("https", "http"):
            raise ValueError(
                f"{self.label}: the URL must be https:// (or http:// outside production)."
            )


class GatewayError(Exception):
    """An outside gateway failed. The message holds the gateway's name, the HTTP status or
    the kind of failure and the attempts made; never what was sent or answered."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


# --- configuration ------------------------------------------------------------------------


def _what_to_set(variable: str, service: Service) -> str:
    return (
        f"Set {variable}={service.http_backend} with {service.prefix}_URL (an https:// URL) "
        f"and {service.prefix}_TOKEN or {service.prefix}_TOKEN_FILE (docs/gateways.md)."
    )


def development_backend_problem(variable: str, backend: str) -> str | None:
    """Why ``backend`` cannot serve production, or None."""
    service = SERVICES[variable]
    if backend not in service.development_backends:
        return None
    return (
        f"{variable} is {backend}, a development backend that reaches nobody; production "
        f"refuses it. {_what_to_set(variable, service)}"
    )


def _secret(name: str) -> str | None:
    inline = env_str(name)
    path_text = env_str(f"{name}_FILE")
    if inline and path_text:
        raise ImproperlyConfigured(f"Set either {name} or {name}_FILE, not both.")
    if path_text:
        path = Path(path_text)
        if not path.is_file():
            raise ImproperlyConfigured(f"{name}_FILE {path} does not exist.")
        inline = path.read_text().strip() or None
        if inline is None:
            raise ImproperlyConfigured(f"{name}_FILE {path} is empty.")
    if inline is not None and any(ord(c) < 0x21 or ord(c) == 0x7F for c in inline):
        raise ImproperlyConfigured(f"{name} must be one line without spaces.")
    return inline


def _seconds(name: str, default: float) -> float:
    value = env_str(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number of seconds, got {value!r}.") from None
    if not 0 < number <= 120:
        raise ImproperlyConfigured(f"{name} must be above 0 and at most 120 seconds, got {value}.")
    return number


def load_gateway(prefix: str, *, label: str, environment: str) -> GatewayConfig:
    """The gateway under ``prefix`` from the environment; refused when it cannot work."""
    url = env_str(f"{prefix}_URL")
    if url is None:
        raise ImproperlyConfigured(
            f"{prefix}_URL is not set: the {label} backend needs the gateway's https:// URL."
        )
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ImproperlyConfigured(f"{prefix}_URL must be an https:// URL, got {url!r}.")
    if parts.username is not None or parts.password is not None:
        raise ImproperlyConfigured(
            f"{prefix}_URL must not hold a credential; set {prefix}_TOKEN or {prefix}_TOKEN_FILE."
        )
    if environment == "production" and parts.scheme != "https":
        raise ImproperlyConfigured(
            f"{prefix}_URL must be an https:// URL in production: the requests carry phone "
            "numbers and the credential."
        )
    token = _secret(f"{prefix}_TOKEN")
    if token is None:
        raise ImproperlyConfigured(
            f"{prefix}_TOKEN is not set: set {prefix}_TOKEN or {prefix}_TOKEN_FILE to the "
            f"credential the {label} issued."
        )
    return GatewayConfig(
        label=label,
        url=url,
        token=token,
        timeout=_seconds(f"{prefix}_TIMEOUT", 5.0),
        retries=min(env_int(f"{prefix}_RETRIES", 2, minimum=0), 10),
    )


def outside_service(variable: str, backend: str, *, environment: str) -> GatewayConfig | None:
    """Settings' check of one outside service: production refuses a development backend;
    the HTTP backend's gateway is loaded (and refused when incomplete) in every posture."""
    service = SERVICES[variable]
    if environment == "production":
        problem = development_backend_problem(variable, backend)
        if problem is not None:
            raise ImproperlyConfigured(problem)
    if backend != service.http_backend:
        return None
    return load_gateway(service.prefix, label=service.label, environment=environment)


def deploy_problems(variable: str, backend: str, gateway: GatewayConfig | None) -> list[str]:
    """What ``check --deploy`` reports for one outside service (whatever BAOMI_ENV is)."""
    service = SERVICES[variable]
    problem = development_backend_problem(variable, backend)
    if problem is not None:
        return [problem]
    if backend != service.http_backend:
        return []
    if gateway is None:
        return [
            f"{variable} is {backend} but its gateway is not configured. "
            f"{_what_to_set(variable, service)}"
        ]
    if urlsplit(gateway.url).scheme != "https":
        return [f"{service.prefix}_URL must be an https:// URL in production."]
    return []


# --- the client ---------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect becomes an error: following it would send the credential elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _failure(error: BaseException, timeout: float) -> str:
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout:g} s"
    # The class name only: an OS or TLS error's text is not needed and names no person.
    return f"could not be reached ({type(reason).__name__})"


def post_json(gateway: GatewayConfig, payload: dict[str, Any]) -> bytes:
    """POST ``payload`` as JSON; the 2xx answer's body (at most MAX_ANSWER_BYTES).

    Retries after a connection error, a timeout or a 5xx answer, ``gateway.retries`` times
    with a short doubling pause; a 3xx or 4xx answer is final. Raises GatewayError.
    """
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Accept": "application/json",
        "Authorization": f"Bearer {gateway.token}",
        "Idempotency-Key": uuid.uuid4().hex,
        "User-Agent": "Baomi",
    }
    opener = urllib.request.build_opener(_NoRedirect)
    attempts = gateway.retries + 1
    for attempt in range(1, attempts + 1):
        # S310: GatewayConfig admits http(s) URLs only.
        request = urllib.request.Request(  # noqa: S310
            gateway.url, data=body, headers=headers, method="POST"
        )
        try:
            with opener.open(request, timeout=gateway.timeout) as answer:
                return bytes(answer.read(MAX_ANSWER_BYTES))
        except urllib.error.HTTPError as error:
            status = error.code
            error.close()
            if status < 500:
                raise GatewayError(
                    f"{gateway.label} answered HTTP {status}; not retried "
                    f"(attempt {attempt} of {attempts}).",
                    status=status,
                    attempts=attempt,
                ) from None
            if attempt == attempts:
                raise GatewayError(
                    f"{gateway.label} answered HTTP {status} (attempt {attempt} of {attempts}).",
                    status=status,
                    attempts=attempt,
                ) from None
            failure = f"answered HTTP {status}"
        except (OSError, http.client.HTTPException) as error:
            failure = _failure(error, gateway.timeout)
            if attempt == attempts:
                raise GatewayError(
                    f"{gateway.label}: {failure} (attempt {attempt} of {attempts}).",
                    attempts=attempt,
                ) from None
        logger.warning(
            "%s %s on attempt %s of %s; retrying", gateway.label, failure, attempt, attempts
        )
        time.sleep(gateway.backoff * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # pragma: no cover
