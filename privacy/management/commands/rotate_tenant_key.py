from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from privacy.rotation import rewrap_subject_keys, start_tenant_key_rotation
from privacy.tasks import rotate_tenant_subject_keys
from tenants.actors import SystemActor
from tenants.management.base import TenantCommand
from tenants.models import Tenant


class Command(TenantCommand):
    help = (
        "Start (or resume) rotating a tenant's data key: a new key version wraps every "
        "subject key, in batches on the Celery worker (or here with --inline); when all are "
        "rewrapped, the old version is retired."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument(
            "--inline", action="store_true", help="rewrap here instead of on the Celery worker"
        )

    def handle_tenant(self, tenant: Tenant, *args: Any, **options: Any) -> None:
        batch_size = options["batch_size"]
        if not 1 <= batch_size <= 10000:
            raise CommandError("--batch-size must be between 1 and 10000.")
        actor = SystemActor("rotate-tenant-key")
        key = start_tenant_key_rotation(tenant=tenant, actor=actor)
        if options["inline"]:
            while remaining := rewrap_subject_keys(
                tenant=tenant, actor=actor, batch_size=batch_size
            ):
                self.stdout.write(f"{remaining} subject keys left")
            self.stdout.write(f"Tenant {tenant.slug!r} now uses data key version {key.version}.")
            return
        rotate_tenant_subject_keys.apply_async(args=[tenant.pk, batch_size])
        self.stdout.write(
            f"Rotation to data key version {key.version} queued for tenant {tenant.slug!r}."
        )
