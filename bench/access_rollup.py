#!/usr/bin/env python
"""The access statistics' roll-up speed (issue 20; docs/decisions/0014).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/baomi_hc \\
        .venv/bin/python bench/access_rollup.py --events 10000000

Seeds one tenant's log with ``--events`` events straight in SQL (a year of them, about
half access events of every kind from 200 staff, each mostly for one purpose; chain
hashes are placeholders, this
database is a bench's), then times ``roll_up_access`` from an empty cursor and reports
events per second, and times the reveals panels' context over the last 30 days.
``--keep`` reuses a tenant seeded before (its cursor reset)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BAOMI_ENV", "test")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from django.utils import timezone  # noqa: E402

from audits.access_panels import denied_panel, reveals_panel  # noqa: E402
from audits.access_rollups import roll_up_access  # noqa: E402
from audits.models import AccessRollup, AccessRollupCursor, AuditChainHead  # noqa: E402
from audits.panels import Period  # noqa: E402
from tenants.models import Membership, Role, Tenant, User  # noqa: E402
from tenants.scoping import tenant_scope  # noqa: E402

SLUG = "bench-access"
STAFF = 200
ROLES = [Role.CUSTOMER_SERVICE, Role.DISPATCHER, Role.KITCHEN, Role.PACKER, Role.RIDER]
PURPOSES = ["delivery", "customer_service_call", "food_preparation", "packing", "order_remake"]


def _tenant() -> Tenant:
    tenant, _created = Tenant.objects.get_or_create(slug=SLUG, defaults={"name": "Bench access"})
    return tenant


def seed(events: int) -> Tenant:
    tenant = _tenant()
    with tenant_scope(tenant):
        users = list(User.objects.filter(tenant=tenant).order_by("pk"))
        for n in range(len(users), STAFF):
            user = User.objects.create(username=f"bench-staff-{n}", tenant=tenant)
            Membership.objects.create(tenant=tenant, user=user, role=ROLES[n % len(ROLES)])
            if n % 10 == 0:  # some hold two roles
                Membership.objects.create(tenant=tenant, user=user, role=Role.SUPERVISOR)
            users.append(user)
        first_user = users[0].pk
        head = AuditChainHead.objects.filter(tenant=tenant, stripe=0).first()
        start = head.sequence if head is not None else 0
    purposes = "ARRAY[" + ", ".join(f"'{p}'" for p in PURPOSES) + "]"
    begin = timezone.now() - timedelta(days=365)
    step = 1_000_000
    for low in range(start, start + events, step):
        high = min(low + step, start + events)
        began = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO audits_auditevent (tenant_id, stripe, sequence, occurred_at, actor,
                    action, object_type, object_id, fields, purpose, request_id, ip, details,
                    prev_hash, hash)
                SELECT %s, 0, g, %s::timestamptz + (g - %s) * (interval '365 days' / %s),
                    'user:' || (%s + (g * 31) %% {STAFF}),
                    CASE WHEN r < 35 THEN 'privacy.reveal'
                         WHEN r < 45 THEN 'privacy.reveal_batch'
                         WHEN r < 48 THEN 'privacy.reveal_denied'
                         WHEN r < 49 THEN 'privacy.reveal_batch_denied'
                         WHEN r < 50 THEN 'privacy.reveal_failed'
                         WHEN r < 55 THEN 'privacy.search'
                         WHEN r < 56 THEN 'privacy.search_denied'
                         ELSE 'orders.order_created' END,
                    'orders.order', '', '[]'::jsonb,
                    CASE WHEN r >= 56 THEN ''
                         WHEN g %% 10 = 0 THEN ({purposes})[1 + g %% 5]
                         ELSE ({purposes})[1 + ((g * 31) %% {STAFF}) %% 5] END, '', NULL,
                    CASE WHEN r < 45 AND r >= 35 OR r = 48
                         THEN jsonb_build_object('count', 1 + g %% 50, 'objects', '[]'::jsonb)
                         ELSE '{{}}'::jsonb END,
                    repeat('0', 64), repeat('0', 64)
                FROM (SELECT g, (g * 7919) %% 100 AS r
                      FROM generate_series(%s::bigint, %s::bigint) g) s
                """,  # noqa: S608
                [tenant.pk, begin, start, events, first_user, low + 1, high],
            )
            cursor.execute(
                "INSERT INTO audits_auditchainhead (tenant_id, stripe, sequence, hash) "
                "VALUES (%s, 0, %s, %s) "
                "ON CONFLICT (tenant_id, stripe) DO UPDATE SET sequence = EXCLUDED.sequence",
                [tenant.pk, high, "0" * 64],
            )
        print(f"seeded {high - start:>10} events ({time.perf_counter() - began:.1f} s)", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audits_auditevent")
    return tenant


def run(tenant: Tenant, batch: int) -> None:
    with tenant_scope(tenant), transaction.atomic():
        AccessRollup.objects.filter(tenant=tenant).delete()
        AccessRollupCursor.objects.filter(tenant=tenant).delete()
    head = AuditChainHead.objects.with_scope(tenant=tenant).get(tenant=tenant, stripe=0).sequence
    began = time.perf_counter()
    result = roll_up_access(tenant, batch=batch)
    seconds = time.perf_counter() - began
    with tenant_scope(tenant):
        rows = AccessRollup.objects.filter(tenant=tenant).count()
    print(
        f"rolled up {result.scanned} of {head} events in {result.batches} batches of {batch}: "
        f"{seconds:.1f} s, {result.scanned / seconds:,.0f} events/s; {rows} rollup rows"
    )
    began = time.perf_counter()
    again = roll_up_access(tenant, batch=batch)
    print(f"a run with nothing new: {(time.perf_counter() - began) * 1000:.1f} ms ({again})")
    time_panels(tenant)


def time_panels(tenant: Tenant) -> None:
    with connection.cursor() as cursor:  # as autovacuum does after so many new rows
        cursor.execute("VACUUM ANALYZE audits_accessrollup")
    zone = tenant.zone
    with timezone.override(zone), tenant_scope(tenant):
        today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
        period = Period(start=today - timedelta(days=29), end=today + timedelta(days=1))
        request = RequestFactory().get("/")
        for name, panel in (("reveals", reveals_panel), ("denied", denied_panel)):
            times = []
            for _round in range(5):
                began = time.perf_counter()
                panel(request, tenant, period)
                times.append(time.perf_counter() - began)
            print(f"{name} panel context, 30 days: best {min(times) * 1000:.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="reuse the seeded tenant")
    parser.add_argument("--panels", action="store_true", help="time the panels only")
    options = parser.parse_args()
    if connection.vendor != "postgresql":
        print("the bench needs PostgreSQL (DATABASE_URL)")
        return 2
    tenant = _tenant() if options.keep or options.panels else seed(options.events)
    if options.panels:
        time_panels(tenant)
    else:
        run(tenant, options.batch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
