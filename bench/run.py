#!/usr/bin/env python
"""Baomi benchmarks: what confidentiality costs, against a plaintext baseline in the same run.

    make bench            # full sizes (PostgreSQL + Redis on localhost)
    make bench ARGS=--quick

Every ratio is measured side by side: rounds alternate between the product and the
baseline, and the median of the rounds is reported. Results are printed and written to
var/bench/results.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
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

from bench.common import (  # noqa: E402
    ORDER,
    PLAIN,
    Fixture,
    bulk_orders,
    copy_rows,
    gunicorn,
    interleaved,
    paired_ratio,
    run_threads,
    spread,
    timed,
)
from bench.dashboard import bench_dashboard  # noqa: E402
from bench.latency import bench_latency, sized_tenant  # noqa: E402


def median_rate(samples: list[float]) -> float:
    return statistics.median(samples)


INTAKE_PATHS = (
    ("orders", "/api/v1/orders/", True),
    ("baseline", "/bench/plain-orders/", True),
    ("bare_baseline", "/bench/bare-plain-orders/", False),
)


def _intake_result(samples: list[list[float]]) -> dict[str, Any]:
    ours, base, bare = (median_rate(s) for s in samples)
    return {
        "orders_per_s": ours,
        "baseline_per_s": base,
        "ratio": paired_ratio(samples[0], samples[1]),
        "bare_baseline_per_s": bare,
        "ratio_to_bare": paired_ratio(samples[0], samples[2]),
        "samples": dict(zip([name for name, _p, _a in INTAKE_PATHS], samples, strict=True)),
    }


def bench_intake(fx: Fixture, rounds: int, per_round: int) -> dict[str, Any]:
    """The order API against the plaintext baseline behind the same DRF stack (token,
    tenant membership, throttling), and against the bare baseline (none of that)."""
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {fx.token}"}
    bodies = {"orders": json.dumps(ORDER), "baseline": json.dumps(PLAIN)}

    def run(name: str, path: str, authenticated: bool) -> Callable[[], float]:
        body = bodies.get(name, bodies["baseline"])
        headers = auth if authenticated else {}

        def body_() -> None:
            for _ in range(per_round):
                response = client.post(path, body, content_type="application/json", **headers)  # type: ignore[arg-type]
                assert response.status_code == 201, response.content

        return lambda: timed(per_round, body_)

    for name, path, authenticated in INTAKE_PATHS:  # warm up every path first
        run(name, path, authenticated)()
    return _intake_result(interleaved(rounds, *(run(*spec) for spec in INTAKE_PATHS)))


def bench_intake_crowded(fx: Fixture, rounds: int, per_round: int, others: int) -> dict[str, Any]:
    """Intake when the customer's blind-index bucket holds ``others`` more customers, as
    it does in a tenant of about ``(others + 1) * 2**BITS`` customers: every candidate's
    key is read and its phone opened to discard the false positives."""
    from privacy.blind_index import BITS, phone_index
    from privacy.keys import tenant_index_key
    from privacy.models import DataSubject
    from privacy.phone import normalise_phone
    from privacy.subjects import create_subject
    from tenants.actors import SystemActor
    from tenants.scoping import tenant_scope

    system = SystemActor("bench")
    crowd = [
        create_subject(
            tenant=fx.tenant,
            name=f"客{n}",
            phone=f"1390000{n:04d}",
            address="上海市浦东新区张江路1号",
            actor=system,
        ).pk
        for n in range(others)
    ]
    bidx = phone_index(tenant_index_key(fx.tenant), normalise_phone(ORDER["customer"]["phone"]))
    with tenant_scope(fx.tenant):
        DataSubject.objects.filter(pk__in=crowd).update(phone_bidx=bidx)
        bucket = DataSubject.objects.filter(phone_bidx=bidx, erased_at=None).count()
    result = bench_intake(fx, rounds, per_round)
    return {**result, "bucket_customers": bucket, "as_in_a_tenant_of": bucket * 2**BITS}


def bench_intake_http(fx: Fixture, rounds: int, per_round: int, threads: int = 8) -> dict[str, Any]:
    with gunicorn(workers=2) as port:

        def load(name: str, path: str, authenticated: bool) -> Callable[[], float]:
            body = json.dumps(ORDER if name == "orders" else PLAIN)
            headers = {"Content-Type": "application/json", "Host": "localhost"}
            if authenticated:
                headers["Authorization"] = f"Bearer {fx.token}"
            per_thread = max(1, per_round // threads)

            def worker() -> None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                for _ in range(per_thread):
                    conn.request("POST", path, body, headers)
                    response = conn.getresponse()
                    response.read()
                    assert response.status == 201, response.status

            def measure() -> float:
                return per_thread * threads / run_threads(worker, threads)

            return measure

        for spec in INTAKE_PATHS:  # warm up both workers on every path
            load(*spec)()
        result = _intake_result(interleaved(rounds, *(load(*spec) for spec in INTAKE_PATHS)))
    return {**result, "threads": threads, "workers": 2}


def bench_reveal(fx: Fixture, rounds: int, per_round: int) -> dict[str, Any]:
    from bench.models import PlainOrder
    from orders.models import Order
    from privacy.permissions import Purpose
    from privacy.reveal import reveal
    from tenants.models import Role
    from tenants.scoping import tenant_scope

    agent = fx.users[Role.CUSTOMER_SERVICE]
    with tenant_scope(fx.tenant):
        order = Order.objects.order_by("created_at").first()
    plain = PlainOrder.objects.order_by("pk").first()

    def product() -> float:
        def run() -> None:
            with tenant_scope(fx.tenant):
                for _ in range(per_round):
                    reveal(
                        order, fields=["phone"], actor=agent, purpose=Purpose.CUSTOMER_SERVICE_CALL
                    )

        return timed(per_round, run)

    def baseline() -> float:
        def run() -> None:
            for _ in range(per_round):
                PlainOrder.objects.only("phone").get(pk=plain.pk)

        return timed(per_round, run)

    def gate() -> float:
        # The training gate alone (training.gates.reveal_gate: the courses, their versions,
        # the agent's passes, the pledge and its signature), as reveal asks it.
        from training.gates import reveal_gate

        def run() -> None:
            with tenant_scope(fx.tenant):
                for _ in range(per_round):
                    reveal_gate(agent)

        return timed(per_round, run)

    ours, base, gates = interleaved(rounds, product, baseline, gate)
    return {
        "reveals_per_s": median_rate(ours),
        "baseline_reads_per_s": median_rate(base),
        "ratio": paired_ratio(ours, base),
        # The share of a reveal's time the training gate takes (paired per round).
        "gate_checks_per_s": median_rate(gates),
        "gate_share_of_reveal": statistics.median(r / g for r, g in zip(ours, gates, strict=True)),
    }


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


def bench_retention(fx: Fixture, subjects: int) -> dict[str, Any]:
    from privacy.models import DataSubject, SubjectKey
    from privacy.routers import KEYSTORE
    from tenants.scoping import tenant_scope

    old, now = timezone.now() - timedelta(days=30), timezone.now()
    ids = [uuid.uuid4() for _ in range(subjects)]
    copy_rows(
        KEYSTORE,
        SubjectKey._meta.db_table,
        ("id", "tenant_id", "tenant_key_version", "wrapped_key", "created_at"),
        ((i, fx.tenant.pk, 1, b"k" * 60, now) for i in ids),
    )
    copy_rows(
        "default",
        DataSubject._meta.db_table,
        (
            "id",
            "tenant_id",
            "phone_bidx",
            "name_ct",
            "phone_ct",
            "address_ct",
            "note_ct",
            "name_masked",
            "phone_masked",
            "address_masked",
            "created_at",
        ),
        (
            (i, fx.tenant.pk, 1, b"x", b"x", b"x", b"x", "张*", "138****5678", "上海市****", old)
            for i in ids
        ),
    )
    bulk_orders(fx, subjects, status="delivered", changed_at=old, subjects=ids)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE orders_order")
        cursor.execute("ANALYZE privacy_datasubject")
    # The worker reports its own peak RSS (VmHWM: this process's memory since exec;
    # getrusage would carry over the bench process's own peak across exec).
    launcher = (
        "import sys\n"
        "from django.core.management import execute_from_command_line\n"
        "execute_from_command_line(['manage.py', 'retention_sweep', '--tenant', sys.argv[1]])\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "print('VmHWM', hwm, file=sys.stderr)\n"
    )
    start = time.perf_counter()
    worker = subprocess.run(  # noqa: S603
        [sys.executable, "-c", launcher, fx.tenant.slug],
        cwd=ROOT,
        env=os.environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - start
    peak_kb = int(worker.stderr.split("VmHWM", 1)[1].split()[0])
    with tenant_scope(fx.tenant):
        left = SubjectKey.objects.using(KEYSTORE).filter(pk__in=ids[:100]).count()
    assert left == 0
    return {
        "subjects": subjects,
        "subjects_per_s": subjects / elapsed,
        "seconds": elapsed,
        "worker_peak_rss_mb": peak_kb / 1024,
    }


def bench_audit(fx: Fixture, writers: int, per_writer: int, verify_events: int) -> dict[str, Any]:
    from audits.chain import CHAINED_FIELDS, GENESIS_HASH, event_hash
    from audits.models import AuditChainHead, AuditEvent
    from audits.services import record_event
    from audits.verification import verify_tenant_chain
    from tenants.actors import SystemActor
    from tenants.services import create_tenant

    actor = SystemActor("bench")

    def write() -> None:
        for n in range(per_writer):
            record_event(tenant=fx.tenant, actor=actor, action="bench.append", object_id=str(n))
        connections.close_all()

    append_rate = writers * per_writer / run_threads(write, writers)

    tenant = create_tenant(slug=f"chain-{uuid.uuid4().hex[:8]}", name="Chain", actor=actor)
    from tenants.scoping import tenant_scope

    with tenant_scope(tenant):
        head = AuditChainHead.objects.filter(tenant=tenant).first()
    first = (head.sequence if head else 0) + 1
    previous, now = (head.hash if head else GENESIS_HASH), timezone.now()
    columns = (*CHAINED_FIELDS, "hash")
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(
            f"COPY {AuditEvent._meta.db_table} ({', '.join(columns)}) FROM STDIN"  # noqa: S608
        ) as copy,
    ):
        for sequence in range(first, first + verify_events):
            # Events shaped like the product's own: an intake's, a reveal, a status change.
            kind = sequence % 3
            object_id = str(uuid.UUID(int=sequence))
            values = {
                "tenant_id": tenant.pk,
                "sequence": sequence,
                "occurred_at": now + timedelta(microseconds=sequence),
                "actor": ("token:7", "user:42", "user:43")[kind],
                "action": ("order.created", "privacy.reveal", "order.status_changed")[kind],
                "object_type": "orders.order",
                "object_id": object_id,
                "fields": ([], ["phone"], [])[kind],
                "purpose": ("", "customer_service_call", "")[kind],
                "request_id": uuid.UUID(int=sequence << 64).hex,
                "ip": ("203.0.113.7", "2001:db8::42", None)[kind],
                "details": (
                    {
                        "code": f"K{sequence % 99999:05d}-7Q2MX",
                        "items": 3,
                        "channel": "api",
                        "notice_version": 1,
                        "subject": object_id,
                    },
                    {"masked": "138****5678", "名": "值"},
                    {"from": "received", "to": "preparing"},
                )[kind],
                "prev_hash": previous,
            }
            digest = event_hash(values)
            copy.write_row(
                [
                    json.dumps(values[name], ensure_ascii=False)
                    if name in ("fields", "details")
                    else values[name]
                    for name in CHAINED_FIELDS
                ]
                + [digest]
            )
            previous = digest
    with tenant_scope(tenant):
        AuditChainHead.objects.update_or_create(
            tenant=tenant, defaults={"sequence": first + verify_events - 1, "hash": previous}
        )
    start = time.perf_counter()
    count, broken = verify_tenant_chain(tenant)
    verify_rate = count / (time.perf_counter() - start)
    assert broken is None and count == first - 1 + verify_events, broken
    return {
        "append_events_per_s": append_rate,
        "writers": writers,
        "verify_events": verify_events,
        "verify_events_per_s": verify_rate,
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
        "python_payload_hashes_per_s": median_rate(python),
        "postgres_round_trips_per_s": median_rate(database),
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
        "encrypted_mb_per_s": statistics.median(ours),
        "pg_dump_mb_per_s": statistics.median(plain),
        "ratio": statistics.median(ours) / statistics.median(plain),
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
    args = parser.parse_args()
    try:
        return _run(args)
    finally:
        if not args.keep:
            _drop_run_databases()


#: The tenant sizes (orders) of the scaling steps: (full, quick).
SIZES = {False: (10_000, 100_000, 1_100_000), True: (2_000, 10_000, 50_000)}
_SIZED: dict[int, Fixture] = {}


def sized_tenants(sizes: tuple[int, ...]) -> dict[int, Fixture]:
    """Tenants of these many orders, seeded once per run and shared by the steps."""
    for size in sizes:
        if size not in _SIZED:
            _SIZED[size] = sized_tenant(size)
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
        # Intake, the closest ratio to its target, gets 7 rounds: a steadier median.
        ("intake_test_client", lambda: bench_intake(fx, 5 if quick else 7, 20 if quick else 200)),
        (
            "intake_http_gunicorn",
            lambda: bench_intake_http(fx, 5 if quick else 7, 40 if quick else 400),
        ),
        # After the intake steps: it crowds their customer's blind-index bucket.
        (
            "intake_crowded_bucket",
            lambda: bench_intake_crowded(fx, 5, 20 if quick else 200, 9 if quick else 60),
        ),
        ("reveal", lambda: bench_reveal(fx, 7, 50 if quick else 500)),
        ("rider_list", lambda: bench_rider_list(sized_tenants(SIZES[quick]), 7)),
        ("retention", lambda: bench_retention(fx, 2_000 if quick else 100_000)),
        (
            "audit_chain",
            lambda: bench_audit(fx, 4, 50 if quick else 500, 20_000 if quick else 1_000_000),
        ),
        ("backup", lambda: bench_backup(3 if quick else 5)),
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
    steps.append(
        (
            "latency",
            lambda: bench_latency(sized_tenants((SIZES[quick][0], SIZES[quick][-1])), rounds=7),
        )
    )
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
