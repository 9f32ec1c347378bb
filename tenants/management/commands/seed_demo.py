from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from tenants.actors import SystemActor
from tenants.demo import demo_seeders
from tenants.models import Role, User
from tenants.selectors import tenant_by_slug
from tenants.services import create_staff_user, create_tenant
from tenants.two_factor import needs_two_factor

# Where each demo user logs in and what to try there (the operator's console output is
# English, like every command's).
SITE = "http://127.0.0.1:8000"
TRY: dict[str, tuple[str, str]] = {
    Role.CUSTOMER_SERVICE: (
        "/admin/",
        "the order desk: find an order by code or phone; take an order; reveal a field for "
        "a purpose; resolve the open anomaly; issue a handover code for the held order",
    ),
    Role.KITCHEN: ("/orders/kitchen/", "the kitchen board: start and finish the received orders"),
    Role.PACKER: ("/orders/packing/", "seal the ready orders and print their labels"),
    Role.DISPATCHER: ("/admin/", "assign packed orders on the dispatch board, one click each"),
    Role.RIDER: ("/rider/login/", "on a phone-sized window: confirm a pickup, call, hand over"),
    Role.TENANT_ADMIN: (
        "/admin/",
        "add a user and give roles; set the time zone in Tenant settings",
    ),
    Role.PRIVACY_OFFICER: ("/admin/", "record an erasure request; publish a privacy notice"),
    Role.SUPERVISOR: (
        "/supervisor/",
        "the dashboard: follow a number to its list; handle an alert; plan an inspection",
    ),
}
DEMO_SLUG = "demo"
DEMO_NAME = "Demo Delivery Co."
OPERATOR = "platform-operator"


def _new_password(username: str) -> str:
    """A random password the site's validators accept for ``username``: a random string can,
    rarely, share enough letters with the username to count as "too similar"."""
    probe = User(username=username)
    while True:
        password = secrets.token_urlsafe(12)
        try:
            password_validation.validate_password(password, probe)
        except ValidationError:
            continue
        return password


class Command(BaseCommand):
    help = (
        "Seed the demo: tenant 'Demo Delivery Co.' with one user per role and a platform "
        "operator. Idempotent; refuses to run in production. Passwords are generated on "
        "first run, kept in var/demo-credentials.json (mode 600) and printed."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("seed_demo never runs in production (BAOMI_ENV=production).")
        path = Path(settings.VAR_DIR) / "demo-credentials.json"
        credentials: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        actor = SystemActor("seed-demo")
        with transaction.atomic():
            tenant = tenant_by_slug(DEMO_SLUG)
            if tenant is None:
                tenant = create_tenant(slug=DEMO_SLUG, name=DEMO_NAME, actor=actor)
            for role in Role:
                username = f"demo-{role.value.replace('_', '-')}"
                if not User.objects.filter(username=username).exists():
                    credentials[username] = _new_password(username)
                    create_staff_user(
                        tenant=tenant,
                        username=username,
                        password=credentials[username],
                        roles=[role],
                        actor=actor,
                    )
            if not User.objects.filter(username=OPERATOR).exists():
                credentials[OPERATOR] = _new_password(OPERATOR)
                User.objects.create_superuser(OPERATOR, "", credentials[OPERATOR])
        for seeder in demo_seeders():
            summary = seeder(tenant, actor)
            if summary:
                self.stdout.write(summary)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(credentials, handle, indent=2)
        self.stdout.write(f"Demo tenant: {tenant.name} ({tenant.slug})")
        self.stdout.write("Log in as (each role's page, and what to try there):")
        roles = {f"demo-{role.value.replace('_', '-')}": role for role in Role}
        for username, password in sorted(credentials.items()):
            where, what = TRY.get(roles.get(username, ""), ("/admin/", "every tenant"))
            self.stdout.write(f"  {username:24} {password:18} {SITE}{where}")
            self.stdout.write(f"  {'':24} {'':18} {what}")
        self.stdout.write(
            "SMS and the call relay are simulated in the demo: SMS texts and relay bindings "
            "are written to the demo's log (never a phone number); nothing is sent."
        )
        needing = sorted(
            user.username
            for user in User.objects.filter(username__in=credentials).select_related("tenant")
            if needs_two_factor(user)
        )
        self.stdout.write(
            "Two-factor login: " + ", ".join(needing) + " set up an authenticator app at "
            "their first login (scan the QR code on the page, or type its key into the app; "
            "`oathtool --totp -b KEY`, the key without spaces, works too). Ten recovery "
            "codes are shown once after that; keep them. Other roles log in with the "
            "password only."
        )
