"""The HTTP gateways (config/gateways.py) against a real local HTTP server: what is sent,
what is retried, and that no failure names the customer's number or the message."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import Error, Tags, run_checks
from django.core.exceptions import ImproperlyConfigured

from config.gateways import GatewayConfig, GatewayError, deploy_problems, load_gateway, post_json
from privacy.sms import HttpSmsBackend, sms_backend
from riders.relay import HttpRelayBackend, RelayUnavailable, relay_backend
from tests.gateway_server import Answer, GatewayServer

PHONE = "13912345678"
TEXT = "Baomi: your code to erase your data is 424242. It is valid for 10 minutes."


@pytest.fixture
def server() -> Iterator[GatewayServer]:
    with GatewayServer() as running:
        yield running


def _failure(server: GatewayServer, *answers: Answer, **config: Any) -> GatewayError:
    server.answer(*answers)
    with pytest.raises(GatewayError) as error:
        HttpSmsBackend(server.config(**config)).send(phone=PHONE, text=TEXT)
    return error.value


# --- the SMS backend ----------------------------------------------------------------------


def test_sms_backend_posts_the_number_and_text_as_json(server: GatewayServer) -> None:
    HttpSmsBackend(server.config()).send(phone=PHONE, text=TEXT)
    assert [(r.path, r.json()) for r in server.requests] == [
        ("/v1/endpoint", {"to": PHONE, "text": TEXT})
    ]


def test_sms_backend_sends_the_credential_as_a_bearer_token(server: GatewayServer) -> None:
    HttpSmsBackend(server.config()).send(phone=PHONE, text=TEXT)
    headers = server.requests[0].headers
    assert (headers["Authorization"], headers["Content-Type"]) == (
        "Bearer test-token-7f3a",
        "application/json; charset=utf-8",
    )


def test_chinese_text_is_sent_as_utf8_json(server: GatewayServer) -> None:
    HttpSmsBackend(server.config()).send(phone=PHONE, text="宝米：您的验证码是 424242。")
    assert server.requests[0].body.decode() == (
        '{"to": "13912345678", "text": "宝米：您的验证码是 424242。"}'
    )


def test_a_503_is_retried_then_the_message_goes_through(server: GatewayServer) -> None:
    server.answer(Answer(503), Answer(503), Answer(200))
    HttpSmsBackend(server.config(retries=2)).send(phone=PHONE, text=TEXT)
    assert [r.json() for r in server.requests] == [{"to": PHONE, "text": TEXT}] * 3


def test_retries_keep_one_idempotency_key(server: GatewayServer) -> None:
    server.answer(Answer(502), Answer(200))
    HttpSmsBackend(server.config()).send(phone=PHONE, text=TEXT)
    keys = {r.headers["Idempotency-Key"] for r in server.requests}
    assert (len(server.requests), len(keys)) == (2, 1)


def test_a_5xx_on_every_attempt_gives_up_after_the_retries(server: GatewayServer) -> None:
    error = _failure(server, Answer(503), Answer(500), Answer(503), retries=2)
    assert (str(error), error.status, len(server.requests)) == (
        "SMS gateway answered HTTP 503 (attempt 3 of 3).",
        503,
        3,
    )


def test_a_400_is_not_retried(server: GatewayServer) -> None:
    error = _failure(server, Answer(400, b'{"error": "bad number 13912345678"}'))
    assert (str(error), error.status, len(server.requests)) == (
        "SMS gateway answered HTTP 400; not retried (attempt 1 of 3).",
        400,
        1,
    )


def test_a_401_is_not_retried(server: GatewayServer) -> None:
    error = _failure(server, Answer(401))
    assert (str(error), len(server.requests)) == (
        "SMS gateway answered HTTP 401; not retried (attempt 1 of 3).",
        1,
    )


def test_a_redirect_is_not_followed(server: GatewayServer) -> None:
    error = _failure(server, Answer(307, headers={"Location": "http://127.0.0.1:9/elsewhere"}))
    assert (str(error), len(server.requests)) == (
        "SMS gateway answered HTTP 307; not retried (attempt 1 of 3).",
        1,
    )


def test_a_timeout_gives_a_clear_error(server: GatewayServer) -> None:
    error = _failure(server, Answer(200, delay=1.0), timeout=0.2, retries=0)
    assert (str(error), error.status) == (
        "SMS gateway: no answer within 0.2 s (attempt 1 of 1).",
        None,
    )


def test_a_timeout_is_retried(server: GatewayServer) -> None:
    # The second answer is immediate; a 1 s timeout leaves it room on a busy machine.
    server.answer(Answer(200, delay=3.0), Answer(200))
    HttpSmsBackend(server.config(timeout=1.0, retries=1)).send(phone=PHONE, text=TEXT)
    assert len(server.requests) == 2


def test_a_closed_port_is_retried_then_reported() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gateway = GatewayConfig(
        label="SMS gateway", url=f"http://127.0.0.1:{port}/", token="t", retries=1, backoff=0.01
    )
    with pytest.raises(GatewayError) as error:
        HttpSmsBackend(gateway).send(phone=PHONE, text=TEXT)
    assert str(error.value) == (
        "SMS gateway: could not be reached (ConnectionRefusedError) (attempt 2 of 2)."
    )


@pytest.mark.parametrize(
    ("answers", "timeout"),
    [
        # A generous timeout where no timeout is meant: on a busy machine a 0.2 s one
        # expired before the 400 came back, and the retry found no answer queued.
        ([Answer(400, f'{{"echo": "{PHONE}"}}'.encode())], 5.0),
        ([Answer(503, PHONE.encode())] * 3, 5.0),
        ([Answer(200, delay=1.0)] * 3, 0.2),
    ],
    ids=["400", "503", "timeout"],
)
def test_no_failure_names_the_number_or_the_text(
    server: GatewayServer, caplog: pytest.LogCaptureFixture, answers: list[Answer], timeout: float
) -> None:
    caplog.set_level(logging.DEBUG)
    error = _failure(server, *answers, timeout=timeout)
    said = " ".join([str(error), repr(error), *map(str, error.args), caplog.text])
    assert (PHONE in said, "424242" in said, error.__cause__, error.__suppress_context__) == (
        False,
        False,
        None,
        True,
    )


def test_retries_are_logged_without_personal_data(
    server: GatewayServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="config.gateways")
    server.answer(Answer(503), Answer(200))
    HttpSmsBackend(server.config()).send(phone=PHONE, text=TEXT)
    assert caplog.messages == ["SMS gateway answered HTTP 503 on attempt 1 of 3; retrying"]


def test_the_configured_sms_backend_is_the_http_one(settings: Any, server: GatewayServer) -> None:
    settings.BAOMI_SMS_BACKEND = "privacy.sms.HttpSmsBackend"
    settings.BAOMI_SMS_GATEWAY = server.config()
    sms_backend.cache_clear()
    try:
        sms_backend().send(phone=PHONE, text=TEXT)
    finally:
        sms_backend.cache_clear()
    assert [r.json()["to"] for r in server.requests] == [PHONE]


def test_the_http_sms_backend_without_a_gateway_is_refused(settings: Any) -> None:
    settings.BAOMI_SMS_GATEWAY = None
    with pytest.raises(ImproperlyConfigured) as error:
        HttpSmsBackend()
    assert str(error.value) == (
        "HttpSmsBackend needs BAOMI_SMS_GATEWAY_URL and BAOMI_SMS_GATEWAY_TOKEN "
        "(or BAOMI_SMS_GATEWAY_TOKEN_FILE)."
    )


def test_the_credential_stays_out_of_the_configs_repr(server: GatewayServer) -> None:
    assert "test-token-7f3a" not in repr(server.config())


def test_a_config_with_another_scheme_is_refused() -> None:
    with pytest.raises(ValueError) as error:
        GatewayConfig(label="SMS gateway", url="file:///etc/passwd", token="t")
    assert str(error.value) == (
        "SMS gateway: the URL must be https:// (or http:// outside production)."
    )


def test_post_json_returns_the_answer(server: GatewayServer) -> None:
    server.answer(Answer(201, b'{"id": "m-1"}'))
    assert post_json(server.config(), {"ping": 1}) == b'{"id": "m-1"}'


# --- the call relay backend ---------------------------------------------------------------


def _relay(server: GatewayServer, **config: Any) -> HttpRelayBackend:
    return HttpRelayBackend(server.config(label="call relay gateway", **config))


def test_relay_bind_posts_the_assignment_and_number_and_returns_the_virtual_number(
    server: GatewayServer,
) -> None:
    server.answer(Answer(200, b'{"virtual_number": "+86 950 1234 5678"}'))
    virtual = _relay(server).bind(assignment_id=42, customer_phone=PHONE)
    assert (virtual, server.requests[0].json()) == (
        "+86 950 1234 5678",
        {"action": "bind", "assignment": 42, "customer_phone": PHONE},
    )


def test_relay_release_posts_the_assignment_only(server: GatewayServer) -> None:
    _relay(server).release(assignment_id=42)
    assert server.requests[0].json() == {"action": "release", "assignment": 42}


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b"{}",
        b'{"virtual_number": 12}',
        f'{{"virtual_number": "{PHONE}x"}}'.encode(),
    ],
    ids=["not-json", "list", "missing", "number", "not-a-number"],
)
def test_a_relay_answer_without_a_usable_virtual_number_is_refused(
    server: GatewayServer, body: bytes
) -> None:
    server.answer(Answer(200, body))
    with pytest.raises(RelayUnavailable) as error:
        _relay(server).bind(assignment_id=42, customer_phone=PHONE)
    assert str(error.value.__cause__) == (
        "call relay gateway answered without a usable virtual_number."
    )


def test_a_failing_relay_is_a_conflict_with_a_message_for_the_rider(
    server: GatewayServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="riders.relay")
    server.answer(Answer(503), Answer(503))
    with pytest.raises(RelayUnavailable) as error:
        _relay(server, retries=1).bind(assignment_id=42, customer_phone=PHONE)
    logged = [r.getMessage() for r in caplog.records if r.name == "riders.relay"]
    assert (error.value.message, str(error.value.__cause__), logged) == (
        "The call relay is not answering. Try again in a minute or call customer service.",
        "call relay gateway answered HTTP 503 (attempt 2 of 2).",
        [
            "relay: bind of assignment 42 failed: "
            "call relay gateway answered HTTP 503 (attempt 2 of 2)."
        ],
    )


def test_the_configured_relay_backend_is_the_http_one(settings: Any, server: GatewayServer) -> None:
    settings.BAOMI_CALL_RELAY_BACKEND = "riders.relay.HttpRelayBackend"
    settings.BAOMI_CALL_RELAY_GATEWAY = server.config(label="call relay gateway")
    relay_backend.cache_clear()
    try:
        relay_backend().release(assignment_id=7)
    finally:
        relay_backend.cache_clear()
    assert server.requests[0].json() == {"action": "release", "assignment": 7}


# --- configuration from the environment ---------------------------------------------------

PREFIX = "BAOMI_SMS_GATEWAY"


def _env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for suffix in ("URL", "TOKEN", "TOKEN_FILE", "TIMEOUT", "RETRIES"):
        monkeypatch.delenv(f"{PREFIX}_{suffix}", raising=False)
    for suffix, value in values.items():
        monkeypatch.setenv(f"{PREFIX}_{suffix}", value)


def _load(environment: str = "production") -> GatewayConfig:
    return load_gateway(PREFIX, label="SMS gateway", environment=environment)


def test_the_gateway_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, URL="https://sms.example.com/v1", TOKEN="s3cret", TIMEOUT="2.5", RETRIES="4")
    assert _load() == GatewayConfig(
        label="SMS gateway",
        url="https://sms.example.com/v1",
        token="s3cret",
        timeout=2.5,
        retries=4,
    )


def test_the_gateway_defaults_to_5_seconds_and_2_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, URL="https://sms.example.com/v1", TOKEN="s3cret")
    assert (_load().timeout, _load().retries) == (5.0, 2)


def test_the_token_can_come_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-a-file\n")
    _env(monkeypatch, URL="https://sms.example.com/v1", TOKEN_FILE=str(tmp_path / "token"))
    assert _load().token == "from-a-file"


def test_http_is_accepted_outside_production(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, URL="http://127.0.0.1:8025/sms", TOKEN="s3cret")
    assert _load("development").url == "http://127.0.0.1:8025/sms"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"TOKEN": "s3cret"},
            "BAOMI_SMS_GATEWAY_URL is not set: the SMS gateway backend needs the gateway's "
            "https:// URL.",
        ),
        (
            {"URL": "https://sms.example.com/v1"},
            "BAOMI_SMS_GATEWAY_TOKEN is not set: set BAOMI_SMS_GATEWAY_TOKEN or "
            "BAOMI_SMS_GATEWAY_TOKEN_FILE to the credential the SMS gateway issued.",
        ),
        (
            {"URL": "http://sms.example.com/v1", "TOKEN": "s3cret"},
            "BAOMI_SMS_GATEWAY_URL must be an https:// URL in production: the requests carry "
            "phone numbers and the credential.",
        ),
        (
            {"URL": "ftp://sms.example.com/v1", "TOKEN": "s3cret"},
            "BAOMI_SMS_GATEWAY_URL must be an https:// URL, got 'ftp://sms.example.com/v1'.",
        ),
        (
            {"URL": "https://user:pw@sms.example.com/v1", "TOKEN": "s3cret"},
            "BAOMI_SMS_GATEWAY_URL must not hold a credential; set BAOMI_SMS_GATEWAY_TOKEN or "
            "BAOMI_SMS_GATEWAY_TOKEN_FILE.",
        ),
        (
            {"URL": "https://sms.example.com/v1", "TOKEN": "s3cret", "TOKEN_FILE": "/x"},
            "Set either BAOMI_SMS_GATEWAY_TOKEN or BAOMI_SMS_GATEWAY_TOKEN_FILE, not both.",
        ),
        (
            {"URL": "https://sms.example.com/v1", "TOKEN_FILE": "/nonexistent/token"},
            "BAOMI_SMS_GATEWAY_TOKEN_FILE /nonexistent/token does not exist.",
        ),
        (
            {"URL": "https://sms.example.com/v1", "TOKEN": "s3cret", "TIMEOUT": "soon"},
            "BAOMI_SMS_GATEWAY_TIMEOUT must be a number of seconds, got 'soon'.",
        ),
        (
            {"URL": "https://sms.example.com/v1", "TOKEN": "s3cret", "TIMEOUT": "0"},
            "BAOMI_SMS_GATEWAY_TIMEOUT must be above 0 and at most 120 seconds, got 0.",
        ),
        (
            {"URL": "https://sms.example.com/v1", "TOKEN": "s3cret", "RETRIES": "-1"},
            "BAOMI_SMS_GATEWAY_RETRIES must be at least 0, got -1.",
        ),
    ],
    ids=[
        "no-url",
        "no-token",
        "plain-http",
        "ftp",
        "credential-in-url",
        "token-twice",
        "token-file-missing",
        "timeout-text",
        "timeout-zero",
        "retries-negative",
    ],
)
def test_an_unusable_gateway_is_refused(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str], message: str
) -> None:
    _env(monkeypatch, **values)
    with pytest.raises(ImproperlyConfigured) as error:
        _load()
    assert str(error.value) == message


def test_an_empty_token_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("\n")
    _env(monkeypatch, URL="https://sms.example.com/v1", TOKEN_FILE=str(tmp_path / "token"))
    with pytest.raises(ImproperlyConfigured) as error:
        _load()
    assert str(error.value) == f"BAOMI_SMS_GATEWAY_TOKEN_FILE {tmp_path / 'token'} is empty."


# --- check --deploy -----------------------------------------------------------------------

CONSOLE_SMS = (
    "BAOMI_SMS_BACKEND is privacy.sms.ConsoleSmsBackend, a development backend that reaches "
    "nobody; production refuses it. Set BAOMI_SMS_BACKEND=privacy.sms.HttpSmsBackend with "
    "BAOMI_SMS_GATEWAY_URL (an https:// URL) and BAOMI_SMS_GATEWAY_TOKEN or "
    "BAOMI_SMS_GATEWAY_TOKEN_FILE (docs/gateways.md)."
)
CONSOLE_RELAY = (
    "BAOMI_CALL_RELAY_BACKEND is riders.relay.ConsoleRelayBackend, a development backend that "
    "reaches nobody; production refuses it. Set "
    "BAOMI_CALL_RELAY_BACKEND=riders.relay.HttpRelayBackend with "
    "BAOMI_CALL_RELAY_GATEWAY_URL (an https:// URL) and BAOMI_CALL_RELAY_GATEWAY_TOKEN or "
    "BAOMI_CALL_RELAY_GATEWAY_TOKEN_FILE (docs/gateways.md)."
)


def _gateway_errors() -> list[Any]:
    found = run_checks(include_deployment_checks=True, tags=[Tags.security])
    return sorted((m for m in found if m.id in ("privacy.E001", "riders.E001")), key=str)


def test_check_deploy_reports_the_console_backends(settings: Any) -> None:
    settings.BAOMI_SMS_BACKEND = "privacy.sms.ConsoleSmsBackend"
    settings.BAOMI_CALL_RELAY_BACKEND = "riders.relay.ConsoleRelayBackend"
    assert _gateway_errors() == [
        Error(CONSOLE_SMS, id="privacy.E001"),
        Error(CONSOLE_RELAY, id="riders.E001"),
    ]


def test_check_deploy_accepts_https_gateways(settings: Any) -> None:
    gateway = GatewayConfig(label="x", url="https://gw.example.com/", token="t")
    settings.BAOMI_SMS_BACKEND = "privacy.sms.HttpSmsBackend"
    settings.BAOMI_SMS_GATEWAY = gateway
    settings.BAOMI_CALL_RELAY_BACKEND = "riders.relay.HttpRelayBackend"
    settings.BAOMI_CALL_RELAY_GATEWAY = gateway
    assert _gateway_errors() == []


@pytest.mark.parametrize(
    ("backend", "gateway", "problems"),
    [
        ("privacy.sms.MemorySmsBackend", None, 1),
        ("privacy.sms.HttpSmsBackend", None, 1),
        ("privacy.sms.HttpSmsBackend", GatewayConfig(label="x", url="http://gw/", token="t"), 1),
        ("vendor.sms.TheirBackend", None, 0),
    ],
    ids=["memory", "http-without-gateway", "http-plain", "third-party"],
)
def test_check_deploy_problems_of_the_sms_backend(
    backend: str, gateway: GatewayConfig | None, problems: int
) -> None:
    assert len(deploy_problems("BAOMI_SMS_BACKEND", backend, gateway)) == problems
