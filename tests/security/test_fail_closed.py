"""An unset BAOMI_ENV is production; a refused or unknown request is one log line."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from config.log_filters import OneLineClientErrors
from tenants.models import Role
from tests.factories import TenantFactory, UserFactory
from tests.riders.conftest import make_rider, packed_order
from tests.test_settings import manage, production_env

# --- BAOMI_ENV unset ---------------------------------------------------------------------


def test_an_unset_baomi_env_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    result = manage(production_env(tmp_path, BAOMI_ENV=None, SECRET_KEY=None), "check")
    assert (result.returncode != 0, result.stderr.strip().splitlines()[-1]) == (
        True,
        "django.core.exceptions.ImproperlyConfigured: SECRET_KEY is not set. Production never "
        "generates one: set SECRET_KEY in the environment (at least 50 random characters). "
        "BAOMI_ENV is unset, which means production; the demo and the tests set "
        "BAOMI_ENV=development or BAOMI_ENV=test (Makefile).",
    )


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("BAOMI_MASTER_KEYS", "No privacy master key is configured."),
        ("ALLOWED_HOSTS", "ALLOWED_HOSTS must name the hosts this site serves."),
        ("DATABASE_URL", "DATABASE_URL is not set"),
        ("BAOMI_SMS_BACKEND", "a development backend that reaches nobody; production refuses"),
    ],
)
def test_an_unset_baomi_env_refuses_what_production_refuses(
    tmp_path: Path, missing: str, message: str
) -> None:
    result = manage(production_env(tmp_path, BAOMI_ENV=None, **{missing: None}), "check")
    assert (result.returncode != 0, message in result.stderr) == (True, True), result.stderr


def test_an_unset_baomi_env_generates_no_local_secret_files(tmp_path: Path) -> None:
    env = production_env(
        tmp_path,
        BAOMI_ENV=None,
        SECRET_KEY=None,
        BAOMI_MASTER_KEYS=None,
        BAOMI_HMAC_KEY=None,
        BAOMI_BACKUP_KEYS=None,
        BAOMI_ANCHOR_KEYS=None,
    )
    manage(env, "check")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_unset_baomi_env_runs_with_production_settings(tmp_path: Path) -> None:
    result = manage(
        production_env(tmp_path, BAOMI_ENV=None),
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.BAOMI_ENV, s.DEBUG, "
        "s.SESSION_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS)",
    )
    assert result.stdout.strip().splitlines()[-1] == "production False True True 31536000"


def test_an_unset_baomi_env_refuses_debug(tmp_path: Path) -> None:
    result = manage(production_env(tmp_path, BAOMI_ENV=None, DEBUG="true"), "check")
    assert "DEBUG must be off in production." in result.stderr


# --- one line per refused request ----------------------------------------------------------


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the configured console handler (settings.LOGGING) writes, during the test."""
    (handler,) = [
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, OneLineClientErrors) for f in h.filters)
    ]
    assert isinstance(handler, logging.StreamHandler)
    output = io.StringIO()
    previous = handler.setStream(output)
    yield output
    handler.setStream(previous)


@pytest.mark.django_db(databases="__all__")
def test_a_403_is_logged_as_one_line_without_a_traceback(
    client: Client, log_output: io.StringIO
) -> None:
    order = packed_order(tenant := TenantFactory())
    client.force_login(UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE]))
    log_output.truncate(0)
    response = client.get(reverse("orders:label", args=[order.pk]))
    lines = log_output.getvalue().splitlines()
    assert (response.status_code, [line.split(" ", 2)[2] for line in lines]) == (
        403,
        [f"WARNING django.request Forbidden (Permission denied): /orders/{order.pk}/label/"],
    )


@pytest.mark.django_db(databases="__all__")
def test_a_404_is_logged_as_one_line_without_a_traceback(
    client: Client, log_output: io.StringIO
) -> None:
    client.force_login(UserFactory(tenant=TenantFactory(), roles=[Role.PACKER]))
    log_output.truncate(0)
    missing = "00000000-0000-0000-0000-000000000000"
    response = client.get(reverse("orders:label", args=[missing]))
    lines = log_output.getvalue().splitlines()
    assert (response.status_code, [line.split(" ", 2)[2] for line in lines]) == (
        404,
        [f"WARNING django.request Not Found: /orders/{missing}/label/"],
    )


@pytest.mark.django_db(databases="__all__")
def test_an_api_404_is_logged_as_one_line(client: Client, log_output: io.StringIO) -> None:
    client.force_login(UserFactory(tenant=TenantFactory(), roles=[Role.CUSTOMER_SERVICE]))
    log_output.truncate(0)
    missing = "00000000-0000-0000-0000-000000000000"
    response = client.get(reverse("api:order-detail", args=[missing]))
    lines = log_output.getvalue().splitlines()
    assert (response.status_code, [line.split(" ", 2)[2] for line in lines]) == (
        404,
        [f"WARNING django.request Not Found: /api/v1/orders/{missing}/"],
    )


@pytest.mark.django_db(databases="__all__")
def test_an_api_403_is_logged_as_one_line(client: Client, log_output: io.StringIO) -> None:
    client.force_login(make_rider(TenantFactory()).user)
    log_output.truncate(0)
    response = client.get(reverse("api-schema"))
    lines = log_output.getvalue().splitlines()
    assert (response.status_code, [line.split(" ", 2)[2] for line in lines]) == (
        403,
        ["WARNING django.request Forbidden: /api/schema/"],
    )


def _record(status: int | None) -> logging.LogRecord:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "m", (), None)
        record.exc_info = sys.exc_info()
        if status is not None:
            record.status_code = status
        return record


@pytest.mark.parametrize(
    ("status", "traceback_kept"), [(403, False), (404, False), (500, True), (None, True)]
)
def test_only_client_errors_lose_their_traceback(status: int | None, traceback_kept: bool) -> None:
    record = _record(status)
    OneLineClientErrors().filter(record)
    assert (record.exc_info is not None) == traceback_kept
