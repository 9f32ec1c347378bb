from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from config.secrets import SECRETS_HELP, secrets_lines


class Command(BaseCommand):
    # manage.py runs config.secrets before the settings load (production refuses to load
    # without these secrets); this class serves call_command and `manage.py help`.
    help = SECRETS_HELP
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write("\n".join(secrets_lines(settings.BAOMI_BACKUP_KEY_RING)))
