from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from privacy.errors import KeyRetiredError
from privacy.keys import current_master_version
from privacy.rotation import rotate_master_key
from tenants.actors import SystemActor
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Rewrap every tenant key under the newest master key version in the configured ring. "
        "Data rows and subject keys are not touched. Afterwards the old master key can be "
        "removed from the ring."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = SystemActor("rotate-master-key")
        total = 0
        for tenant in Tenant.objects.order_by("pk"):
            try:
                total += rotate_master_key(tenant=tenant, actor=actor)
            except KeyRetiredError as error:
                raise CommandError(
                    f"Tenant {tenant.slug!r}: {error}. Put the old master key back in the ring, "
                    "rotate, then remove it."
                ) from None
        self.stdout.write(
            f"Rewrapped {total} tenant key(s) under master key version {current_master_version()}."
        )
