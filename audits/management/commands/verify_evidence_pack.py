from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audits.evidence_keys import fingerprint, load_public_key, public_key
from audits.evidence_verify import verify_pack


class Command(BaseCommand):
    help = (
        "Check an evidence pack: the signature of its manifest and every file's size and "
        "SHA-256. Reports each problem; exits non-zero when there is one. With "
        "--public-key (a PEM file from export_evidence_public_key) it needs no database "
        "and no signing key."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("archive", help="the pack's .zip file")
        parser.add_argument(
            "--public-key",
            metavar="FILE",
            help="the signer's public key (PEM); default: this deployment's",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        archive = Path(options["archive"])
        if not archive.is_file():
            raise CommandError(f"{archive} does not exist.")
        if options["public_key"]:
            key_file = Path(options["public_key"])
            try:
                key = load_public_key(key_file.read_bytes())
            except (OSError, ValueError) as error:
                raise CommandError(f"{key_file}: not an Ed25519 public key ({error}).") from None
        else:
            key = public_key()
        result = verify_pack(archive, key)
        for problem in result.problems:
            self.stderr.write(problem)
        if not result.ok:
            raise CommandError(
                f"{archive.name}: verification FAILED ({len(result.problems)} problem(s))."
            )
        manifest = result.manifest
        period = manifest.get("period") or {}
        self.stdout.write(
            f"{archive.name}: signature valid ({fingerprint(key)}); {result.files} files "
            f"intact; tenant {manifest.get('tenant')}, {period.get('from')} to "
            f"{period.get('to')}."
        )
