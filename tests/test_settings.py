"""Production refuses to start without its secrets; with them, check --deploy is clean."""

from __future__ import annotations

import base64
import os
import re
import secrets
import subprocess
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import parse_master_key_ring
from tests.subprocess_manage import run_manage

ROOT = Path(__file__).resolve().parents[1]


def _key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def production_env(tmp_path: Path, **overrides: str | None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BAOMI_", "DJANGO_")) and key not in {"SECRET_KEY", "DEBUG"}
    }
    env.update(
        BAOMI_ENV="production",
        BAOMI_VAR_DIR=str(tmp_path),
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="baomi.example.com",
        BAOMI_MASTER_KEYS=f"2:{_key()},1:{_key()}",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        KEYSTORE_DATABASE_URL=f"sqlite:///{tmp_path / 'keys.sqlite3'}",
        REDIS_URL="redis://127.0.0.1:6379/15",
        BAOMI_HMAC_KEY=_key(),
        BAOMI_EVIDENCE_SIGNING_KEY=_key(),
        BAOMI_BACKUP_KEYS=f"1:{_key()}",
        BAOMI_ANCHOR_KEYS=f"1:{_key()}",
        BAOMI_SMS_BACKEND="privacy.sms.HttpSmsBackend",
        BAOMI_SMS_GATEWAY_URL="https://sms.example.com/v1/messages",
        BAOMI_SMS_GATEWAY_TOKEN=secrets.token_urlsafe(24),
        BAOMI_CALL_RELAY_BACKEND="riders.relay.HttpRelayBackend",
        BAOMI_CALL_RELAY_GATEWAY_URL="https://relay.example.com/v1/bindings",
        BAOMI_CALL_RELAY_GATEWAY_TOKEN=secrets.token_urlsafe(24),
        BAOMI_BACK_OFFICE_URL="https://baomi.example.com",
        DEFAULT_FROM_EMAIL="baomi@baomi.example.com",
        EMAIL_HOST="smtp.example.com",
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_manage(*args, env=env)


def test_check_deploy_with_production_values_reports_no_issues(tmp_path: Path) -> None:
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "DEBUG")
    assert (result.returncode, result.stdout.strip()) == (
        0,
        "System check identified no issues (0 silenced).",
    )


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("SECRET_KEY", "SECRET_KEY is not set. Production never generates one"),
        ("BAOMI_MASTER_KEYS", "No privacy master key is configured."),
        ("ALLOWED_HOSTS", "ALLOWED_HOSTS must name the hosts this site serves."),
        ("KEYSTORE_DATABASE_URL", "KEYSTORE_DATABASE_URL is not set"),
        ("DATABASE_URL", "DATABASE_URL is not set"),
        ("REDIS_URL", "REDIS_URL is not set"),
        ("BAOMI_HMAC_KEY", "No hashing key is configured."),
        ("BAOMI_BACKUP_KEYS", "No backup key is configured."),
        ("BAOMI_ANCHOR_KEYS", "No audit anchoring key is configured."),
        ("BAOMI_EVIDENCE_SIGNING_KEY", "No evidence pack signing key is configured."),
    ],
)
def test_production_refuses_to_start_without(tmp_path: Path, missing: str, message: str) -> None:
    result = manage(production_env(tmp_path, **{missing: None}), "check")
    assert (result.returncode != 0, message in result.stderr) == (True, True)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"BAOMI_SMS_BACKEND": None},
            "BAOMI_SMS_BACKEND is privacy.sms.ConsoleSmsBackend, a development backend that "
            "reaches nobody; production refuses it. Set "
            "BAOMI_SMS_BACKEND=privacy.sms.HttpSmsBackend with BAOMI_SMS_GATEWAY_URL (an "
            "https:// URL) and BAOMI_SMS_GATEWAY_TOKEN or BAOMI_SMS_GATEWAY_TOKEN_FILE "
            "(docs/gateways.md).",
        ),
        (
            {"BAOMI_SMS_BACKEND": "privacy.sms.ConsoleSmsBackend"},
            "BAOMI_SMS_BACKEND is privacy.sms.ConsoleSmsBackend, a development backend",
        ),
        (
            {"BAOMI_SMS_BACKEND": "privacy.sms.MemorySmsBackend"},
            "BAOMI_SMS_BACKEND is privacy.sms.MemorySmsBackend, a development backend",
        ),
        (
            {"BAOMI_CALL_RELAY_BACKEND": None},
            "BAOMI_CALL_RELAY_BACKEND is riders.relay.ConsoleRelayBackend, a development "
            "backend that reaches nobody; production refuses it. Set "
            "BAOMI_CALL_RELAY_BACKEND=riders.relay.HttpRelayBackend with "
            "BAOMI_CALL_RELAY_GATEWAY_URL (an https:// URL) and BAOMI_CALL_RELAY_GATEWAY_TOKEN "
            "or BAOMI_CALL_RELAY_GATEWAY_TOKEN_FILE (docs/gateways.md).",
        ),
        (
            {"BAOMI_SMS_GATEWAY_URL": None},
            "BAOMI_SMS_GATEWAY_URL is not set: the SMS gateway backend needs the gateway's "
            "https:// URL.",
        ),
        (
            {"BAOMI_SMS_GATEWAY_TOKEN": None},
            "BAOMI_SMS_GATEWAY_TOKEN is not set: set BAOMI_SMS_GATEWAY_TOKEN or "
            "BAOMI_SMS_GATEWAY_TOKEN_FILE to the credential the SMS gateway issued.",
        ),
        (
            {"BAOMI_CALL_RELAY_GATEWAY_URL": "http://relay.example.com/v1/bindings"},
            "BAOMI_CALL_RELAY_GATEWAY_URL must be an https:// URL in production",
        ),
        (
            {"BAOMI_CALL_RELAY_GATEWAY_TOKEN": None},
            "BAOMI_CALL_RELAY_GATEWAY_TOKEN is not set",
        ),
    ],
    ids=[
        "sms-unset",
        "sms-console",
        "sms-memory",
        "relay-unset",
        "sms-no-url",
        "sms-no-token",
        "relay-plain-http",
        "relay-no-token",
    ],
)
def test_production_refuses_outside_services_that_cannot_work(
    tmp_path: Path, overrides: dict[str, str | None], message: str
) -> None:
    result = manage(production_env(tmp_path, **overrides), "check")
    assert (result.returncode != 0, message in result.stderr) == (True, True), result.stderr


def test_production_reads_a_gateway_token_from_a_file(tmp_path: Path) -> None:
    token = tmp_path / "sms_token"
    token.write_text("from-a-file\n")
    env = production_env(
        tmp_path, BAOMI_SMS_GATEWAY_TOKEN=None, BAOMI_SMS_GATEWAY_TOKEN_FILE=str(token)
    )
    assert manage(env, "check", "--deploy", "--fail-level", "DEBUG").returncode == 0


def test_check_deploy_outside_production_reports_the_console_backends(tmp_path: Path) -> None:
    env = production_env(
        tmp_path, BAOMI_ENV="development", BAOMI_SMS_BACKEND=None, BAOMI_CALL_RELAY_BACKEND=None
    )
    result = manage(env, "check", "--deploy")
    reported = re.findall(r"^\?: \((\w+\.E001)\) (\w+) is ", result.stderr, re.MULTILINE)
    assert (result.returncode, reported) == (
        1,
        [("privacy.E001", "BAOMI_SMS_BACKEND"), ("riders.E001", "BAOMI_CALL_RELAY_BACKEND")],
    )


def test_production_generates_no_local_secret_files(tmp_path: Path) -> None:
    manage(production_env(tmp_path, SECRET_KEY=None, BAOMI_MASTER_KEYS=None), "check")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_production_refuses_debug(tmp_path: Path) -> None:
    result = manage(production_env(tmp_path, DEBUG="true"), "check")
    assert "DEBUG must be off in production." in result.stderr


def test_production_reads_the_master_keys_from_a_file(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text(f"1:{_key()}\n")
    env = production_env(tmp_path, BAOMI_MASTER_KEYS=None, BAOMI_MASTER_KEYS_FILE=str(key_file))
    assert manage(env, "check").returncode == 0


def test_development_creates_its_key_files_under_var(tmp_path: Path) -> None:
    env = production_env(
        tmp_path,
        BAOMI_ENV="development",
        SECRET_KEY=None,
        BAOMI_MASTER_KEYS=None,
        BAOMI_HMAC_KEY=None,
        BAOMI_BACKUP_KEYS=None,
        BAOMI_ANCHOR_KEYS=None,
    )
    manage(env, "check")
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir() if p.is_file()}
    assert {k: v for k, v in modes.items() if not k.endswith(".sqlite3")} == {
        "anchor_keys": 0o600,
        "backup_keys": 0o600,
        "hmac_key": 0o600,
        "master_keys": 0o600,
        "secret_key": 0o600,
    }


def test_master_key_ring_parses_versions() -> None:
    one, two = secrets.token_bytes(32), secrets.token_bytes(32)
    text = f"2:{base64.b64encode(two).decode()}, 1:{base64.b64encode(one).decode()}"
    assert parse_master_key_ring(text, source="test") == {1: one, 2: two}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "test holds no master key."),
        ("abc", "test: entry 1 must look like '<version>:<base64 key>'."),
        ("x:AAAA", "test: entry 1 has a non-numeric version."),
        ("0:" + base64.b64encode(bytes(32)).decode(), "test: entry 1 has a version below 1."),
        ("1:%%%", "test: the key of version 1 is not valid base64."),
        (
            "1:" + base64.b64encode(bytes(16)).decode(),
            "test: the key of version 1 must be 32 bytes (AES-256), got 16.",
        ),
        (
            f"1:{base64.b64encode(bytes(32)).decode()},1:{base64.b64encode(bytes(32)).decode()}",
            "test: version 1 appears twice.",
        ),
    ],
)
def test_master_key_ring_rejects_bad_input(text: str, message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as error:
        parse_master_key_ring(text, source="test")
    assert str(error.value) == message


def test_key_store_must_not_be_the_main_database(tmp_path: Path) -> None:
    same = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    result = manage(
        production_env(tmp_path, DATABASE_URL=same, KEYSTORE_DATABASE_URL=same), "check"
    )
    assert "KEYSTORE_DATABASE_URL must name another database than DATABASE_URL." in result.stderr


def test_passwords_are_hashed_with_argon2() -> None:
    import config.settings as configured

    assert configured.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


@pytest.mark.parametrize(("setting", "threshold"), [(None, "2"), ("0", "None"), ("yes", "2")])
def test_prepared_statements_on_postgresql_can_be_turned_off(
    tmp_path: Path, setting: str | None, threshold: str
) -> None:
    env = production_env(
        tmp_path,
        DATABASE_URL="postgres://baomi@127.0.0.1:5432/baomi",
        KEYSTORE_DATABASE_URL="postgres://baomi@127.0.0.1:5432/baomi_keys",
        DATABASE_PREPARED_STATEMENTS=setting,
    )
    result = manage(
        env,
        "shell",
        "-c",
        "from django.conf import settings as s; "
        "print([s.DATABASES[a].get('OPTIONS', {}).get('prepare_threshold') "
        "for a in ('default', 'keystore')])",
    )
    assert result.stdout.strip().splitlines()[-1] == f"[{threshold}, {threshold}]", result.stderr


def test_a_bad_prepared_statements_value_is_refused(tmp_path: Path) -> None:
    env = production_env(tmp_path, DATABASE_PREPARED_STATEMENTS="sometimes")
    result = manage(env, "check")
    assert "DATABASE_PREPARED_STATEMENTS must be a boolean" in result.stderr


def test_processes_starting_at_once_all_read_the_one_whole_local_secret(tmp_path: Path) -> None:
    """web, worker and beat start together on a fresh checkout: each must read the same,
    complete development secret (a reader once saw the file its creator had not written
    yet, and stopped with "must hold at least 32 random bytes, got 0")."""
    import stat
    import threading

    from config.env import local_file_secret

    path = tmp_path / "var" / "hmac_key"
    start = threading.Barrier(12)
    read: list[str] = []

    def one_process(n: int) -> None:
        start.wait()
        read.append(local_file_secret(path, lambda: f"{n:02d}" * 40))

    threads = [threading.Thread(target=one_process, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert (len(read), len(set(read)), len(read[0])) == (12, 1, 80)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["hmac_key"]
