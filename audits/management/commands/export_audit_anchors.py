from __future__ import annotations

from typing import Any

from audits.anchoring import as_json_lines, export_anchors
from tenants.actors import SystemActor
from tenants.management.base import TenantCommand
from tenants.models import Tenant


class Command(TenantCommand):
    help = (
        "Print every anchor of the tenant's audit chain head, read from the anchor sinks "
        "outside the database, as JSON lines with their MACs (and the sinks holding each). "
        "Problems reading a sink go to stderr."
    )

    def handle_tenant(self, tenant: Tenant, *args: Any, **options: Any) -> None:
        anchors, problems = export_anchors(
            tenant=tenant, actor=SystemActor("export-audit-anchors"), via="command"
        )
        self.stdout.write(as_json_lines(anchors), ending="")
        for problem in problems:
            self.stderr.write(f"{tenant.slug}: {problem}")
