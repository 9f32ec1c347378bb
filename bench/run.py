#!/usr/bin/env python
"""Baomi benchmarks: what confidentiality costs, against a plaintext baseline in the same run.

    make bench            # full sizes (PostgreSQL + Redis on localhost)
    make bench ARGS=--quick

Every ratio is the median of per-round paired ratios (the product and its baseline measured
one right after the other in the same round, the order alternating), printed with its
interquartile range, over at least 7 rounds; the sizes of a scaling step are all measured
in every round. Each run has its own databases and a free port (bench/common.py). Results
are printed and written to var/bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BAOMI_ENV", "test")
os.environ["BAOMI_BENCH"] = "1"
# Databases named for this run (two runs at once never share one; they are dropped at the
# end unless --keep), unless DATABASE_URL/KEYSTORE_DATABASE_URL name others.
RUN_ID = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
OWN_DATABASES = "DATABASE_URL" not in os.environ
os.environ.setdefault("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/baomi_bench_{RUN_ID}")
os.environ.setdefault(
    "KEYSTORE_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/baomi_bench_{RUN_ID}_keys"
)
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/6")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# The bench's backups and erasure-ledger file belong with its databases, not the demo's.
BENCH_BACKUPS = ROOT / "var" / "bench" / f"backups-{RUN_ID}"
os.environ["BACKUP_DIR"] = str(BENCH_BACKUPS)
# Throttling stays on for both paths (one atomic counter per token and per tenant per
# request), at a rate the bench never reaches.
os.environ["BAOMI_API_TOKEN_RATE"] = "100000/s"
os.environ["BAOMI_API_TENANT_RATE"] = "100000/s"
os.environ["BAOMI_API_USER_RATE"] = "100000/s"

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.audit_chain import bench_audit_chain  # noqa: E402
from bench.common import (  # noqa: E402
    Fixture,
    bulk_orders,
    interleaved,
    paired_ratio,
    spread,
)
from bench.dashboard import bench_dashboard  # noqa: E402
from bench.intake import bench_intake  # noqa: E402
from bench.latency import bench_latency  # noqa: E402
from bench.lists import bench_lists, seed_sized_tenants  # noqa: E402
from bench.retention import bench_retention  # noqa: E402
from bench.reveal import bench_reveal  # noqa: E402


def bench_rider_list(tenants: dict[int, Fixture], rounds: int) -> dict[str, Any]:
    """The rider's page in tenants of each size: every size is fetched in every round (the
    order alternates), each round's time being the median of 4 fetches; the ratio of a
    size to the smallest is the median of the per-round paired ratios, with its IQR."""
    from guardian.shortcuts import assign_perm

    from orders.models import Order
    from tenants.scoping import tenant_scope

    clients = {}
    for size, fx in tenants.items():
        with tenant_scope(fx.tenant):
            mine = bulk_orders(fx, 10, status="assigned", changed_at=timezone.now())
            for order in Order.objects.filter(pk__in=mine):
                assign_perm("orders.deliver_order", fx.rider.user, order)
        client = Client()
        client.force_login(fx.rider.user)
        clients[size] = client

    def fetch(size: int) -> float:
        times = []
        for _ in range(4):
            start = time.perf_counter()
            response = clients[size].get("/rider/")
            times.append(time.perf_counter() - start)
            assert (
                response.status_code == 200 and response.content.decode().count("data-order=") == 10
            )
        return statistics.median(times) * 1000

    sizes = sorted(tenants)
    for size in sizes:  # warm up
        fetch(size)
    ms: dict[int, list[float]] = {size: [] for size in sizes}
    for index in range(rounds):
        for size in sizes if index % 2 == 0 else reversed(sizes):
            ms[size].append(fetch(size))
    smallest = ms[sizes[0]]
    return {
        "ms_by_tenant_orders": {size: spread(values) for size, values in ms.items()},
        # Times, not rates: the ratio is size ÷ smallest (1.0 is flat).
        "ratio_to_smallest": {size: paired_ratio(ms[size], smallest) for size in sizes[1:]},
    }


def bench_host(rounds: int) -> dict[str, Any]:
    """How fast this host is right now, for comparing runs: absolute rates here drift by
    a factor of three from one day or host to the next, while the side-by-side ratios do
    not. A fixed CPU-bound Python workload (canonical JSON and SHA-256 of an audit-sized
    payload, as verification does) and a PostgreSQL round trip."""
    import hashlib

    payload = [7, 1, "2026-11-29T00:00:00.000000+00:00", "user:42", "order.created"] * 4
    encode = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode

    def python_ops() -> float:
        start, count = time.perf_counter(), 20_000
        for _ in range(count):
            hashlib.sha256(encode(payload).encode()).hexdigest()
        return count / (time.perf_counter() - start)

    def round_trips() -> float:
        with connection.cursor() as cursor:
            start, count = time.perf_counter(), 500
            for _ in range(count):
                cursor.execute("SELECT 1")
                cursor.fetchone()
            return count / (time.perf_counter() - start)

    python, database = interleaved(rounds, python_ops, round_trips)
    return {
        "python_payload_hashes_per_s": spread(python),
        "postgres_round_trips_per_s": spread(database),
    }


def bench_backup(rounds: int) -> dict[str, Any]:
    import tempfile

    from privacy.backups import create_backup

    config = connections["default"].settings_dict
    ours, plain = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        manifest = create_backup("main")
        ours.append(manifest.plain_size / (time.perf_counter() - start) / 1e6)
        manifest.path.unlink()
        manifest.path.with_suffix(".json").unlink()
        with tempfile.TemporaryDirectory(dir=Path(manifest.path).parent) as scratch:
            target = Path(scratch) / "plain.dump"
            start = time.perf_counter()
            subprocess.run(
                [
                    "pg_dump",
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    f"--file={target}",  # noqa: S603, S607
                    f"--host={config['HOST']}",
                    f"--port={config['PORT']}",
                    f"--username={config['USER']}",
                    config["NAME"],
                ],
                check=True,
                capture_output=True,
            )
            plain.append(target.stat().st_size / (time.perf_counter() - start) / 1e6)
    return {
        "encrypted_mb_per_s": spread(ours),
        "pg_dump_mb_per_s": spread(plain),
        "ratio": paired_ratio(ours, plain),
    }


def _admin_connection() -> Any:
    import psycopg

    config = connections["default"].settings_dict
    return psycopg.connect(
        host=config["HOST"],
        port=config["PORT"] or 5432,
        user=config["USER"],
        password=config["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )


def _bench_database_names() -> list[str]:
    names = [connections[alias].settings_dict["NAME"] for alias in ("default", "keystore")]
    if not all("bench" in name for name in names):
        raise SystemExit(f"refusing to recreate databases not named for the bench: {names}")
    return names


def _recreate_databases() -> None:
    """Drop and create the bench's own databases (never anything else: their names must
    contain "bench")."""
    names = _bench_database_names()
    connections.close_all()
    shutil.rmtree(BENCH_BACKUPS, ignore_errors=True)  # the ledger file of the old databases
    BENCH_BACKUPS.mkdir(parents=True)
    with _admin_connection() as admin:
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')


def _drop_run_databases() -> None:
    """Drop the databases named for this run (and its backups), when the bench chose them."""
    if not OWN_DATABASES:
        return
    names = _bench_database_names()
    connections.close_all()
    with _admin_connection() as admin:
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    shutil.rmtree(BENCH_BACKUPS, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (under a minute)")
    parser.add_argument("--only", default="", help="comma-separated steps to run (default: all)")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="with DATABASE_URL/KEYSTORE_DATABASE_URL set: reuse those databases (default: "
        "databases named for the run, created empty and dropped at the end)",
    )
    parser.add_argument(
        "--dashboard-orders", type=int, default=0, help="orders of the dashboard step's tenant"
    )
    parser.add_argument(
        "--dashboard-events",
        type=int,
        default=0,
        help="audit events of the dashboard step's tenant",
    )
    parser.add_argument(
        "--retention-subjects",
        type=int,
        default=0,
        help="customers of each retention round (default 100 000; quick 5 000)",
    )
    args = parser.parse_args()
    try:
        return _run(args)
    finally:
        if not args.keep:
            _drop_run_databases()


#: The tenant sizes (orders) of the scaling steps: (full, quick).
SIZES = {False: (10_000, 100_000, 1_100_000), True: (2_000, 10_000, 50_000)}
#: The two sizes of the lists' and the latency steps.
SMALL_LARGE = {quick: (sizes[0], sizes[-1]) for quick, sizes in SIZES.items()}
_SIZED: dict[int, Fixture] = {}


def sized_tenants(sizes: tuple[int, ...]) -> dict[int, Fixture]:
    """Tenants of these many orders, seeded once per run and shared by the steps."""
    for size in sizes:
        if size not in _SIZED:
            _SIZED.update(seed_sized_tenants([size]))
    return {size: _SIZED[size] for size in sizes}


def _run(args: argparse.Namespace) -> int:
    if connection.vendor != "postgresql":
        print("The benchmarks run on PostgreSQL (DATABASE_URL).", file=sys.stderr)
        return 2
    quick = args.quick
    if not args.keep or OWN_DATABASES:
        _recreate_databases()
    for alias in ("default", "keystore"):
        call_command("migrate", database=alias, verbosity=0)
    fx = Fixture()
    started = time.perf_counter()
    results: dict[str, Any] = {"quick": quick, "started": timezone.now().isoformat()}
    steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("host", lambda: bench_host(7)),
        # Intake in process and over HTTP, returning and new customers (bench/intake.py).
        ("intake", lambda: bench_intake(fx, quick)),
        ("reveal", lambda: bench_reveal(fx, quick)),
        # While the databases are small: a dump of the big tenants below would take most
        # of the run, and the ratio is to pg_dump of the same databases either way.
        ("backup", lambda: bench_backup(7)),
        ("audit_chain", lambda: bench_audit_chain(fx, quick)),
        (
            "retention",
            lambda: bench_retention(fx, quick, args.retention_subjects or None),
        ),
        # The scaling steps share tenants of each size (seeded once, bench/lists.py).
        ("lists", lambda: bench_lists(fx, quick, sized_tenants(SMALL_LARGE[quick]))),
        ("latency", lambda: bench_latency(sized_tenants(SMALL_LARGE[quick]), rounds=7)),
        ("rider_list", lambda: bench_rider_list(sized_tenants(SIZES[quick]), 7)),
        # The supervisor dashboard (issue 20) in a tenant of its own, seeded in SQL.
        (
            "dashboard",
            lambda: bench_dashboard(
                orders=args.dashboard_orders or (20_000 if quick else 1_000_000),
                events=args.dashboard_events or (200_000 if quick else 10_000_000),
                rounds=7,
            ),
        ),
    ]
    wanted = {name for name in args.only.split(",") if name}
    for name, step in steps:
        if wanted and name not in wanted:
            continue
        t0 = time.perf_counter()
        results[name] = step()
        print(
            f"{name:22} {json.dumps(results[name], ensure_ascii=False, default=str)}  ({time.perf_counter() - t0:.1f}s)",
            flush=True,
        )
    results["total_seconds"] = time.perf_counter() - started
    out = ROOT / "var" / "bench" / ("results-quick.json" if quick else "results.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"total {results['total_seconds']:.0f}s; written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
