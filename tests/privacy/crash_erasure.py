"""Run one erasure in a fresh process and SIGKILL it at a chosen point (tests only).

    python tests/privacy/crash_erasure.py <point> staff <tenant id> <subject id> <officer id>
    python tests/privacy/crash_erasure.py <point> sweep <tenant id>

Points: ``after-intent`` (the intent is on disk, no key destroyed), ``after-keys`` (keys
destroyed, the main transaction not committed), ``after-commit`` (the erasure committed:
for a staff request before the request is marked completed and audited, for a sweep after
its first batch, before the next). The process dies as a power cut would: no ``finally``,
no ``on_commit``, no flush of anything.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from privacy import erasure, erasure_requests, retention  # noqa: E402
from tenants.actors import SystemActor  # noqa: E402
from tenants.models import Tenant, User  # noqa: E402


def then_die(function: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        function(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)

    return run


POINTS = {
    "after-intent": "append_ledger_lines",
    "after-keys": "destroy_subject_keys",
    "after-commit": "erase_subjects",
}


def main() -> None:
    point, path, tenant_id = sys.argv[1], sys.argv[2], int(sys.argv[3])
    name = POINTS[point]
    dying = then_die(getattr(erasure, name))
    # Patched wherever the erasure modules hold the name (the sweep imported it).
    for module in (erasure, erasure_requests, retention):
        if hasattr(module, name):
            setattr(module, name, dying)
    tenant = Tenant.objects.get(pk=tenant_id)
    if path == "staff":
        erasure_requests.record_staff_request(
            tenant=tenant,
            subject_id=sys.argv[4],
            channel="phone",
            evidence="called back on the number of the order",
            actor=User.objects.get(pk=int(sys.argv[5])),
        )
    else:
        retention.sweep_tenant(tenant, actor=SystemActor("crash-test"))
    sys.exit(3)  # the point was never reached


if __name__ == "__main__":
    main()
