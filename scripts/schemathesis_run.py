"""The API against its own schema: schemathesis on a live gunicorn, with a token.

Sets up a fresh database (PostgreSQL when DATABASE_URL and KEYSTORE_DATABASE_URL are given:
those databases are dropped and created again, so name throw-away ones; SQLite files under
var/schemathesis/ otherwise), migrates it, seeds the demo tenant (its users, riders and
orders in every status), issues an integration token, starts gunicorn on a free localhost
port with BAOMI_ENV=test, fetches the schema the server publishes, and runs schemathesis
with a fixed seed, every check, and a bounded number of examples per operation. gunicorn is
stopped whatever happens. The exit status is schemathesis's: any 5xx, any response that the
schema does not describe, any other failed check fails the run (and CI).

    .venv/bin/python scripts/schemathesis_run.py [--max-examples N] [--seed S]

The report (JUnit XML, and the log of the server) is kept under artifacts/schemathesis/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
VAR = ROOT / "var" / "schemathesis"
ARTIFACTS = ROOT / "artifacts" / "schemathesis"
CLIENT_NAME = "schemathesis"  # the integration token's name
# Generous limits: the run is about the schema, not the throttles (they answer a declared
# 429 all the same, but every 429 is an example that tested nothing else).
RATES = {
    "BAOMI_API_TOKEN_RATE": "100000/min",
    "BAOMI_API_TENANT_RATE": "100000/min",
    "BAOMI_API_USER_RATE": "100000/min",
    "BAOMI_API_ANON_RATE": "100000/min",
}


def say(message: str) -> None:
    print(f"[schemathesis_run] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def recreate_postgres_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing an unusual database name: {name!r}")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def environment(args: argparse.Namespace) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "KEYSTORE_DATABASE_URL", "REDIS_URL", "DEBUG"}
    }
    env.update(RATES)
    env.update(BAOMI_ENV="test", BAOMI_VAR_DIR=str(VAR), PYTHONUNBUFFERED="1")
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
        env["KEYSTORE_DATABASE_URL"] = args.keystore_database_url
    else:
        env["DATABASE_URL"] = f"sqlite:///{VAR / 'api.sqlite3'}"
        env["KEYSTORE_DATABASE_URL"] = f"sqlite:///{VAR / 'api-keys.sqlite3'}"
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    return env


def manage(env: dict[str, str], *arguments: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"manage.py {arguments[0]} failed ({result.returncode})")
    return result.stdout


# Values the schema cannot list because they are the tenant's data: a published privacy
# notice version and a rider of the tenant (any other is a 400 naming the field).
TENANT_DATA = """
from privacy.models import PrivacyNotice
from riders.models import Rider
from tenants.models import Tenant
from tenants.scoping import tenant_scope

with tenant_scope(Tenant.objects.get(slug="demo")):
    print(PrivacyNotice.objects.order_by("-version").values_list("version", flat=True)[0])
    print(Rider.objects.order_by("pk").values_list("pk", flat=True)[0])
"""


# The coverage phase tries boundary values of every field and does not apply the body
# values above: there, and only for the two operations whose bodies name tenant data, a 400
# to schema-valid data is expected (the fuzzing and stateful phases still check it).
NAMES_TENANT_DATA = ("POST /api/v1/orders/", "POST /api/v1/orders/{order_id}/assign/")
POSITIVE_STATUSES = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]


def write_config(path: Path, notice_version: int, rider: int) -> None:
    """schemathesis.toml: requests name the demo tenant's notice version and rider."""
    lines = [
        "[parameters]",
        f'"body.privacy_notice_version" = {notice_version}',
        f'"body.rider" = {rider}',
    ]
    for name in NAMES_TENANT_DATA:
        lines += [
            "",
            "[[operations]]",
            f'include-name = "{name}"',
            "phases.coverage.checks.positive_data_acceptance.expected-statuses = "
            + json.dumps(POSITIVE_STATUSES),
        ]
    # The order list's cursor is opaque: only the server's next/previous links hold one, so
    # any other schema-valid string is a 400 naming ``cursor`` (docs/decisions/0021).
    lines += [
        "",
        "[[operations]]",
        'include-name = "GET /api/v1/orders/"',
        "checks.positive_data_acceptance.expected-statuses = " + json.dumps(POSITIVE_STATUSES),
    ]
    path.write_text("\n".join(lines) + "\n")


def prepare(args: argparse.Namespace, env: dict[str, str]) -> str:
    """A fresh database with the demo tenant; returns a new integration token."""
    shutil.rmtree(VAR, ignore_errors=True)
    VAR.mkdir(parents=True)
    if args.database_url:
        for url in (args.database_url, args.keystore_database_url):
            recreate_postgres_database(url)
    if args.redis_url:
        import redis

        redis.Redis.from_url(args.redis_url).flushdb()
    manage(env, "migrate", "--noinput")
    manage(env, "migrate", "--noinput", "--database", "keystore")
    manage(env, "seed_demo")  # prints the demo's passwords: kept out of the CI log
    token = manage(env, "create_api_token", "--tenant", "demo", "--name", CLIENT_NAME).strip()
    if not token:
        raise SystemExit("create_api_token printed no token")
    notice_version, rider = (
        int(v) for v in manage(env, "shell", "-v", "0", "-c", TENANT_DATA).split()
    )
    write_config(ARTIFACTS / "schemathesis.toml", notice_version, rider)
    return token


@contextmanager
def gunicorn(env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    log = (ARTIFACTS / "gunicorn.log").open("wb")
    server = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--timeout",
            "60",
            "--access-logfile",
            "-",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped with its workers below
    )
    try:
        yield server
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()
        say(f"gunicorn stopped (exit {server.returncode})")


def get(url: str, token: str) -> tuple[int, bytes]:
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"only the local server is asked: {url}")
    request = urllib.request.Request(  # noqa: S310 - the local gunicorn, checked above
        url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - as above
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until_up(base: str, token: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited ({server.returncode}); see {ARTIFACTS}/gunicorn.log")
        try:
            status, _ = get(f"{base}/api/v1/me/", token)
        except OSError:
            time.sleep(0.5)
            continue
        if status == 200:
            return
        raise SystemExit(f"/api/v1/me/ answered {status} to the new token")
    raise SystemExit("gunicorn did not answer within 60 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--keystore-database-url", default=os.environ.get("KEYSTORE_DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-examples", type=int, default=150)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        # One: reproducible with the seed; and in threads CPython before 3.11.8 can raise a
        # spurious "AST constructor recursion depth mismatch" inside hypothesis
        # (python/cpython#106905), which fails the run for nothing the API did.
        help="concurrent schemathesis workers (default 1)",
    )
    parser.add_argument("--timeout", type=int, default=480, help="seconds for schemathesis")
    args = parser.parse_args()
    if bool(args.database_url) != bool(args.keystore_database_url):
        parser.error("give both DATABASE_URL and KEYSTORE_DATABASE_URL, or neither")

    started = time.monotonic()
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    env = environment(args)
    say("migrating a fresh database and seeding the demo tenant")
    token = prepare(args, env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with gunicorn(env, port) as server:
        wait_until_up(base, token, server)
        status, body = get(f"{base}/api/schema/?format=json", token)
        if status != 200:
            raise SystemExit(f"/api/schema/ answered {status}")
        schema_file = ARTIFACTS / "openapi.json"
        schema_file.write_text(json.dumps(json.loads(body), indent=1))
        say(f"gunicorn on {base}; schema fetched; running schemathesis (seed {args.seed})")
        command = [
            str(BIN / "schemathesis"),
            "--config-file",
            str(ARTIFACTS / "schemathesis.toml"),
            "run",
            str(schema_file),
            "--url",
            base,
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "all",
            "--seed",
            str(args.seed),
            "--max-examples",
            str(args.max_examples),
            "--workers",
            str(args.workers),
            "--generation-database",
            "none",
            "--request-timeout",
            "30",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(ARTIFACTS),
        ]
        try:
            returncode = subprocess.run(
                # In the artefacts folder: schemathesis keeps its crash records (st replay) there.
                command,
                cwd=ARTIFACTS,
                env=env,
                check=False,
                timeout=args.timeout,
            ).returncode
        except subprocess.TimeoutExpired:
            say(f"schemathesis ran over {args.timeout} s and was stopped")
            returncode = 1
    say(f"finished in {time.monotonic() - started:.0f} s: schemathesis exit {returncode}")
    return returncode


def stop_on_signal(signum: int, frame: object) -> None:
    """SIGTERM/SIGHUP unwind like Ctrl-C, so that gunicorn is stopped on the way out."""
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGHUP, stop_on_signal)
    sys.exit(main())
