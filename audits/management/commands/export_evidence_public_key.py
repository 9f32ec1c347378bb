from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from audits.evidence_keys import public_key_pem


class Command(BaseCommand):
    help = (
        "Print the public key (PEM) that checks this deployment's evidence packs' "
        "signatures; give it to whoever verifies a pack (verify_evidence_pack --public-key)."
    )
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(public_key_pem(), ending="")
