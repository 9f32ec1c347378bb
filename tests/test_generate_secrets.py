"""generate_master_key and generate_secrets run in production before any secret exists."""

from __future__ import annotations

import base64
import io
import os
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command

from config.env import parse_master_key_ring
from tests.subprocess_manage import run_manage
from tests.test_settings import production_env

SECRET_NAMES = [
    "SECRET_KEY",
    "BAOMI_HMAC_KEY",
    "BAOMI_ANCHOR_KEYS",
    "POSTGRES_PASSWORD",
    "KEYSTORE_POSTGRES_PASSWORD",
]


def bare_production(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Production with no secret, no database and no host configured."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BAOMI_", "DJANGO_", "DATABASE_", "KEYSTORE_", "REDIS_"))
        and key not in {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"}
    }
    return {**env, "BAOMI_ENV": "production", "BAOMI_VAR_DIR": str(tmp_path), **extra}


def generate(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_manage(*args, env=env)


def assignments(output: str) -> dict[str, str]:
    """The ``NAME=value`` lines of the output (comments skipped)."""
    lines = [line for line in output.splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def backup_entry(output: str) -> str:
    (line,) = [line for line in output.splitlines() if line.startswith("# BAOMI_BACKUP_KEYS=")]
    return line.removeprefix("# BAOMI_BACKUP_KEYS=")


def test_generate_master_key_runs_in_production_with_no_ring(tmp_path: Path) -> None:
    result = generate(bare_production(tmp_path), "generate_master_key")
    ring = parse_master_key_ring(result.stdout, source="output")
    assert (result.returncode, list(ring), len(ring[1]), result.stderr) == (0, [1], 32, "")


def test_generate_master_key_prints_a_new_key_each_run(tmp_path: Path) -> None:
    env = bare_production(tmp_path)
    first, second = (generate(env, "generate_master_key").stdout for _ in range(2))
    assert first != second


def test_generate_master_key_goes_one_above_the_ring_in_the_key_file(tmp_path: Path) -> None:
    ring_file = tmp_path / "master_keys"
    key = base64.b64encode(bytes(range(32))).decode()
    ring_file.write_text(f"3:{key}\n1:{key}\n")
    result = generate(
        bare_production(tmp_path, BAOMI_MASTER_KEYS_FILE=str(ring_file)), "generate_master_key"
    )
    assert list(parse_master_key_ring(result.stdout, source="output")) == [4]


def test_generate_master_key_takes_an_explicit_version(tmp_path: Path) -> None:
    result = generate(bare_production(tmp_path), "generate_master_key", "--key-version", "7")
    assert list(parse_master_key_ring(result.stdout, source="output")) == [7]


@pytest.mark.parametrize(
    ("args", "extra", "message"),
    [
        (["--key-version", "0"], {}, "CommandError: The version must be 1 or more.\n"),
        (
            [],
            {"BAOMI_MASTER_KEYS_FILE": "/nonexistent/master_keys"},
            "CommandError: BAOMI_MASTER_KEYS_FILE /nonexistent/master_keys does not exist.\n",
        ),
        (
            [],
            {"BAOMI_MASTER_KEYS": "1:short"},
            "CommandError: BAOMI_MASTER_KEYS: the key of version 1 is not valid base64.\n",
        ),
    ],
    ids=["version-zero", "missing-ring-file", "bad-ring"],
)
def test_generate_master_key_refuses(
    tmp_path: Path, args: list[str], extra: dict[str, str], message: str
) -> None:
    result = generate(bare_production(tmp_path, **extra), "generate_master_key", *args)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", message)


def test_generate_secrets_runs_in_production_with_no_secrets(tmp_path: Path) -> None:
    result = generate(bare_production(tmp_path), "generate_secrets")
    assert (result.returncode, list(assignments(result.stdout)), result.stderr) == (
        0,
        SECRET_NAMES,
        "",
    )


def test_generate_secrets_puts_a_comment_above_every_value(tmp_path: Path) -> None:
    lines = generate(bare_production(tmp_path), "generate_secrets").stdout.splitlines()
    values = [
        i
        for i, line in enumerate(lines)
        if not line.startswith("#") or line.startswith("# BAOMI_BACKUP_KEYS=")
    ]
    above = [lines[i - 1].startswith("# ") and i - 1 not in values for i in values]
    assert above == [True] * 6


def test_generate_secrets_values_have_the_formats_production_reads(tmp_path: Path) -> None:
    output = generate(bare_production(tmp_path), "generate_secrets").stdout
    values = assignments(output)
    backup_ring = parse_master_key_ring(backup_entry(output), source="backup")
    assert (
        len(values["SECRET_KEY"]) >= 50,
        len(base64.b64decode(values["BAOMI_HMAC_KEY"], validate=True)),
        len(values["POSTGRES_PASSWORD"]),
        values["KEYSTORE_POSTGRES_PASSWORD"].isalnum(),
        list(backup_ring),
    ) == (True, 32, 64, True, [1])


def test_generate_secrets_says_where_the_backup_key_goes(tmp_path: Path) -> None:
    lines = generate(bare_production(tmp_path), "generate_secrets").stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("# BAOMI_BACKUP_KEYS="))
    assert lines[at - 1] == (
        "# NOT for .env: the text after '=' alone goes into secrets/backup_keys (a new ring line)."
    )


def test_generate_secrets_prints_new_values_each_run(tmp_path: Path) -> None:
    env = bare_production(tmp_path)
    first, second = (generate(env, "generate_secrets").stdout for _ in range(2))
    one, two = assignments(first), assignments(second)
    same = [one[name] == two[name] for name in SECRET_NAMES]
    assert [*same, backup_entry(first) == backup_entry(second)] == [False] * 6


def test_generated_secrets_start_production(tmp_path: Path) -> None:
    output = generate(bare_production(tmp_path), "generate_secrets").stdout
    values = assignments(output)
    master = generate(bare_production(tmp_path), "generate_master_key").stdout.strip()
    env = production_env(
        tmp_path,
        SECRET_KEY=values["SECRET_KEY"],
        BAOMI_HMAC_KEY=values["BAOMI_HMAC_KEY"],
        BAOMI_ANCHOR_KEYS=values["BAOMI_ANCHOR_KEYS"],
        BAOMI_MASTER_KEYS=master,
        BAOMI_BACKUP_KEYS=backup_entry(output),
    )
    result = run_manage("check", "--deploy", "--fail-level", "DEBUG", env=env)
    assert (result.returncode, result.stderr) == (0, "")


def test_generate_secrets_as_a_django_command() -> None:
    out = io.StringIO()
    call_command("generate_secrets", stdout=out)
    assert list(assignments(out.getvalue())) == SECRET_NAMES
