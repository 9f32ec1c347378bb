#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys
import types
from pathlib import Path

# Commands that print new secrets: they run before (and without) the settings, which in
# production refuse to load until those secrets exist (config/secrets.py).
SECRET_COMMANDS = ("generate_master_key", "generate_secrets")


def generate_secrets(argv: list[str]) -> int:
    # The config package's __init__ starts Celery, which loads the settings; this process
    # only prints and exits, so it imports the package's modules without running it.
    package = types.ModuleType("config")
    package.__path__ = [str(Path(__file__).resolve().parent / "config")]
    sys.modules.setdefault("config", package)
    from config.secrets import main as generate

    return generate(argv)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in SECRET_COMMANDS:
        sys.exit(generate_secrets(sys.argv[1:]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
