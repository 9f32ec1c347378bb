"""scripts/demo.py says, before starting anything, when its port cannot be used."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _demo(env_port: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "BAOMI_DEMO_PORT": env_port}
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )


def test_a_taken_port_is_named_with_the_way_out_and_nothing_starts() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = _demo(port)
    assert done.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in done.stderr
    assert "BAOMI_DEMO_PORT=8001 make demo" in done.stderr
    assert "started" not in done.stdout


def test_a_port_that_is_not_a_number_is_refused() -> None:
    done = _demo("80a")
    assert (done.returncode, "is not a port number" in done.stderr) == (2, True)


def test_the_port_is_the_web_servers() -> None:
    spec = importlib.util.spec_from_file_location("demo_script", ROOT / "scripts" / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.PROCESSES["web"][3] == f"127.0.0.1:{module.PORT}"
