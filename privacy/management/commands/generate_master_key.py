from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.secrets import KEY_VERSION_HELP, MASTER_KEY_HELP, master_key_line


class Command(BaseCommand):
    # manage.py runs config.secrets before the settings load (production refuses to load
    # without a ring); this class serves call_command and `manage.py help`.
    help = MASTER_KEY_HELP
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--key-version", dest="key_version", type=int, help=KEY_VERSION_HELP)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            line = master_key_line(options["key_version"], settings.BAOMI_MASTER_KEY_RING)
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(line)
