"""Run the demo: web server, Celery worker and Celery beat together; Ctrl-C stops all.

Used by ``make demo`` after migrate and seed_demo. Everything runs on the embedded
defaults: SQLite under var/ and Kombu's filesystem broker (no Redis needed).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CELERY = [PYTHON, "-m", "celery", "-A", "config"]

# BAOMI_DEMO_PORT chooses another port when 8000 is taken.
PORT = os.environ.get("BAOMI_DEMO_PORT", "8000")
PROCESSES = {
    "web": [PYTHON, "manage.py", "runserver", f"127.0.0.1:{PORT}", "--noreload"],
    "worker": [
        *CELERY,
        "worker",
        "--loglevel=INFO",
        "--pool=solo",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ],
    "beat": [*CELERY, "beat", "--loglevel=INFO"],
}


def _port_problem() -> str | None:
    """Why the web server could not listen on PORT, said before anything starts."""
    if not PORT.isdigit() or not 0 < int(PORT) < 65536:
        return f"BAOMI_DEMO_PORT={PORT!r} is not a port number (1-65535)"
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", int(PORT)))
        except OSError:
            return (
                f"port {PORT} on 127.0.0.1 is already in use (another demo?); stop it, or "
                "choose another port: BAOMI_DEMO_PORT=8001 make demo"
            )
    return None


def main() -> int:
    problem = _port_problem()
    if problem is not None:
        print(f"demo: {problem}", file=sys.stderr, flush=True)
        return 2
    env = dict(os.environ)
    env.setdefault("BAOMI_ENV", "development")
    # The demo shows scheduled work happening: housekeeping every 30 s, not every 15 min.
    env.setdefault("BAOMI_HOUSEKEEPING_SECONDS", "30")
    # ...and the retention sweep every minute, so that expired demo orders visibly go.
    env.setdefault("BAOMI_RETENTION_SWEEP_SECONDS", "60")
    # ...and an encrypted backup into var/backups/ every ten minutes.
    env.setdefault("BAOMI_BACKUP_SECONDS", "600")
    # ...and the audit chain anchored and verified soon after start (the jobs do it once per
    # hour and once per night; the dashboard's integrity panel fills in within minutes).
    env.setdefault("BAOMI_ANCHOR_SECONDS", "120")
    env.setdefault("BAOMI_CHAIN_VERIFY_SECONDS", "300")
    env["PYTHONUNBUFFERED"] = "1"
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for name, command in PROCESSES.items():
        # Own process group: the terminal's Ctrl-C reaches us, and we stop the children.
        children[name] = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
        print(f"demo: started {name} (pid {children[name].pid})", flush=True)
    print(f"demo: http://127.0.0.1:{PORT}/admin/ — press Ctrl-C to stop everything", flush=True)
    exit_code = 0
    parent = os.getppid()
    while not stopping:
        if os.getppid() != parent:
            print("demo: the launching process went away; stopping", flush=True)
            break
        for name, child in children.items():
            if child.poll() is not None:
                print(f"demo: {name} exited with {child.returncode}; stopping the rest", flush=True)
                exit_code = child.returncode or 1
                stopping = True
                break
        time.sleep(0.5)
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    print("demo: stopped", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
