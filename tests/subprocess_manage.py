from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_manage(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python manage.py ARGS`` in a fresh process (its own settings, outside the test DB)."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env if env is not None else {**os.environ, "BAOMI_ENV": "test"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def child_env(backup_dir: object) -> dict[str, str]:
    """The environment of a child process that works on this test run's databases (the
    test databases on PostgreSQL) and backup folder."""
    from django.db import connections

    def url(alias: str) -> str:
        cfg = connections[alias].settings_dict
        return f"postgres://{cfg['USER']}@{cfg['HOST']}:{cfg['PORT']}/{cfg['NAME']}"

    return {
        **os.environ,
        "BAOMI_ENV": "test",
        "DATABASE_URL": url("default"),
        "KEYSTORE_DATABASE_URL": url("keystore"),
        "BACKUP_DIR": str(backup_dir),
    }


def run_python(script: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -c SCRIPT ARGS`` in a fresh process from the checkout's root."""
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
