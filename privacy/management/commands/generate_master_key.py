from __future__ import annotations

import base64
import secrets
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Print a new master key entry '<version>:<base64>' for BAOMI_MASTER_KEYS. Add it to "
        "the ring (keep the old entries until rotate_master_key has run), never to the repo."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--key-version",
            dest="key_version",
            type=int,
            help="version number (default: one above the configured ring's highest)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        version = options["key_version"] or max(settings.BAOMI_MASTER_KEY_RING, default=0) + 1
        if version < 1:
            raise CommandError("The version must be 1 or more.")
        self.stdout.write(f"{version}:{base64.b64encode(secrets.token_bytes(32)).decode()}")
