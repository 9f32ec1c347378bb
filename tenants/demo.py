"""Demo seeding hooks: each app registers what the demo tenant should hold, in its ready().

``seed_demo`` creates the tenant and users, then runs the seeders in app order (so the
privacy notice exists before orders are taken). Seeders must be idempotent.
"""

from __future__ import annotations

from collections.abc import Callable

from tenants.actors import SystemActor
from tenants.models import Tenant

Seeder = Callable[[Tenant, SystemActor], str | None]
_seeders: list[Seeder] = []


def register_demo_seeder(seeder: Seeder) -> None:
    if seeder not in _seeders:
        _seeders.append(seeder)


def demo_seeders() -> list[Seeder]:
    return list(_seeders)
