"""New secrets for a deployment, without Django's settings.

Production settings refuse to load until every secret is configured, so the commands that
make those secrets cannot need the settings: ``manage.py`` runs ``generate_master_key`` and
``generate_secrets`` through :func:`main` before Django loads anything, and the Django
commands of the same names (``call_command``, ``manage.py help``) call the same functions.
Nothing is written anywhere: the values go to standard output only.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.env import parse_master_key_ring

MASTER_KEY_HELP = (
    "Print a new master key entry '<version>:<base64>' for BAOMI_MASTER_KEYS. Add it to "
    "the ring (keep the old entries until rotate_master_key has run), never to the repo."
)
SECRETS_HELP = (
    "Print fresh values for production's other secrets (SECRET_KEY, BAOMI_HMAC_KEY, the audit "
    "anchoring key ring, the two database passwords, the backup key ring) as .env lines, each "
    "under a comment."
)
KEY_VERSION_HELP = "version number (default: one above the configured ring's highest)"


def key_entry(version: int) -> str:
    """A ring entry: ``<version>:<base64 of 32 random bytes>``."""
    if version < 1:
        raise ValueError("The version must be 1 or more.")
    return f"{version}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def next_version(ring: Mapping[int, bytes]) -> int:
    return max(ring, default=0) + 1


def configured_ring(name: str, dev_file: str, environ: Mapping[str, str]) -> dict[int, bytes]:
    """The ring in ``<name>`` or the file named by ``<name>_FILE``; empty when neither is
    set. Outside production the development file under BAOMI_VAR_DIR counts too, if it
    exists (the settings would read it); nothing is created."""
    inline = (environ.get(name) or "").strip()
    path_text = (environ.get(f"{name}_FILE") or "").strip()
    if inline and path_text:
        raise ImproperlyConfigured(f"Set either {name} or {name}_FILE, not both.")
    if inline:
        return parse_master_key_ring(inline, source=name)
    if path_text:
        path = Path(path_text)
        if not path.is_file():
            raise ImproperlyConfigured(f"{name}_FILE {path} does not exist.")
        text = path.read_text()
        return parse_master_key_ring(text, source=f"{name}_FILE {path}") if text.strip() else {}
    if (environ.get("BAOMI_ENV") or "production").strip() == "production":  # unset: production
        return {}
    var_dir = Path(
        (environ.get("BAOMI_VAR_DIR") or "").strip() or Path(__file__).resolve().parents[1] / "var"
    )
    path = var_dir / dev_file
    if not path.is_file():
        return {}
    return parse_master_key_ring(path.read_text(), source=f"the development key file {path}")


def master_key_line(version: int | None, ring: Mapping[int, bytes]) -> str:
    return key_entry(version if version is not None else next_version(ring))


def secrets_lines(backup_ring: Mapping[int, bytes]) -> list[str]:
    """Production's other secrets as .env lines, each under a one-line comment."""
    hmac_key = base64.b64encode(secrets.token_bytes(32)).decode()
    return [
        "# Django's signing key (SECRET_KEY); changing it logs everyone out.",
        f"SECRET_KEY={secrets.token_urlsafe(50)}",
        "# Key of the hashes of API tokens, PINs and one-time codes; changing it voids them all.",
        f"BAOMI_HMAC_KEY={hmac_key}",
        "# Key ring of the audit chain's anchors (their MACs); keep old versions: they verify.",
        f"BAOMI_ANCHOR_KEYS={key_entry(1)}",
        "# Password of the main PostgreSQL's baomi role; set before the first start of its volume.",
        f"POSTGRES_PASSWORD={secrets.token_hex(32)}",
        "# Password of the key store's baomi_keys role; set before the first start of its volume.",
        f"KEYSTORE_POSTGRES_PASSWORD={secrets.token_hex(32)}",
        "# NOT for .env: the text after '=' alone goes into secrets/backup_keys (a new ring line).",
        f"# BAOMI_BACKUP_KEYS={key_entry(next_version(backup_ring))}",
        "# The master key ring, once: `python manage.py generate_master_key > secrets/master_keys`.",
    ]


def _parser(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"manage.py {command}",
        description=MASTER_KEY_HELP if command == "generate_master_key" else SECRETS_HELP,
    )
    if command == "generate_master_key":
        parser.add_argument("--key-version", dest="key_version", type=int, help=KEY_VERSION_HELP)
    return parser


def main(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> int:
    """``manage.py <command> [options]`` for the commands in COMMANDS, settings unloaded."""
    command, *args = argv
    options = _parser(command).parse_args(args)
    env = os.environ if environ is None else environ
    try:
        if command == "generate_master_key":
            ring = (
                {}
                if options.key_version is not None
                else configured_ring("BAOMI_MASTER_KEYS", "master_keys", env)
            )
            print(master_key_line(options.key_version, ring))
        else:
            print(
                "\n".join(secrets_lines(configured_ring("BAOMI_BACKUP_KEYS", "backup_keys", env)))
            )
    except (ImproperlyConfigured, ValueError) as error:
        print(f"CommandError: {error}", file=sys.stderr)
        return 1
    return 0
