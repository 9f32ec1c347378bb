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
