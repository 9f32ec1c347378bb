"""The retention sweep at a real tenant's shape (issue 21, point 6).

Each round seeds, with COPY, customers past their retention as a tenant has them after months
of business: several orders each (3 to 5), each order with its notice record, its status
rows (received → … → delivered, or received → cancelled), the rider's ended assignment
(some held with a sealed note), now and then an anomaly note, a handover code or a privacy
report, the customer's key in the key store, and the audit events intake and the lifecycle
write about them (appended through ``audits.services.record_events``, so the chain is the
product's own). Beside them, customers the sweep must leave alone: one with an order still in
progress, one whose last order finished inside the retention period.

The sweep runs as production's beat job runs it: ``privacy.tasks.retention_sweep`` calls
``housekeeping.sweep_retention`` — reconcile the file ledger, then ``sweep_tenant`` for each
tenant — and the management command ``retention_sweep --tenant`` does the same two steps; the
bench runs the command in a fresh process (its start-up is counted) and reads that
process's peak RSS. Afterwards it checks that every key is destroyed, every sealed column
and mask of every registered model is blank, the database ledger and the file ledger name
each swept customer exactly once, the left-alone customers are intact, and the tenant's
audit chain verifies.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.db import connection, connections, transaction
from django.db.models import Count, Q
from django.utils import timezone

from bench.common import ORDER_COLUMNS, ROOT, copy_rows, order_row, paired_ratio, spread

ROUNDS = 3
ORDERS_PER_SUBJECT = (3, 4, 5)  # cycled: 4 on average
# Of every order: every 10th cancelled before cooking, the rest delivered by a rider.
CANCELLED_EVERY = 10
HELD_EVERY = 20  # delivered after a stop in temporary storage, with a sealed note
ANOMALY_EVERY = 50  # an anomaly with a note (a mask erasure clears)
HANDOVER_EVERY = 40  # a handover code, with customer service's reason
REPORT_EVERY = 500  # customers who filed a privacy report
LEFT_ALONE_EVERY = 50  # per kind of customer the sweep must not erase
EVENT_CHUNK = 20_000


@dataclass
class Seeded:
    due: list[uuid.UUID]  # past their retention: the sweep erases them
    busy: list[uuid.UUID]  # an order still in progress
    recent: list[uuid.UUID]  # last order finished inside the retention period
    rows: dict[str, int] = field(default_factory=dict)


def _reserve_ids(alias: str, table: str, count: int) -> list[int]:
    """``count`` ids from ``table``'s own sequence (rows COPYed with them)."""
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, count],
        )
        return [row[0] for row in cursor.fetchall()]


def _delivered_path(cancelled: bool) -> list[tuple[str, str]]:
    if cancelled:
        return [("", "received"), ("received", "cancelled")]
    return [
        ("", "received"),
        ("received", "preparing"),
        ("preparing", "packed"),
        ("packed", "assigned"),
        ("assigned", "picked_up"),
        ("picked_up", "delivered"),
    ]


def _order_events(
    order_id: uuid.UUID,
    subject_id: uuid.UUID,
    code: str,
    first: bool,
    cancelled: bool,
    rider_id: int,
) -> Iterator[Any]:
    from audits.services import Event

    subject = str(subject_id)
    yield Event(
        action="privacy.subject_created" if first else "privacy.subject_matched",
        object_type="privacy.datasubject",
        object_id=subject,
    )
    yield Event(
        action="order.created",
        object_type="orders.order",
        object_id=str(order_id),
        details={
            "code": code,
            "items": 3,
            "channel": "phone",
            "notice_version": 1,
            "subject": subject,
        },
    )
    for before, after in _delivered_path(cancelled)[1:]:
        if after == "assigned":
            yield Event(
                action="riders.order_assigned",
                object_type="orders.order",
                object_id=str(order_id),
                details={"rider": rider_id},
            )
        if after == "picked_up":
            yield Event(
                action="privacy.reveal",
                object_type="orders.order",
                object_id=str(order_id),
                fields=("address", "phone"),
                purpose="delivery",
                details={"subject": subject},
            )
        if after == "delivered":
            yield Event(
                action="order.pin_accepted", object_type="orders.order", object_id=str(order_id)
            )
        yield Event(
            action="order.transition",
            object_type="orders.order",
            object_id=str(order_id),
            details={"from": before, "to": after, **({"seal": True} if after == "packed" else {})},
        )
        if after == "preparing":
            yield Event(
                action="order.food_ready", object_type="orders.order", object_id=str(order_id)
            )


def seed_subjects(fx: Any, due: int, *, now: datetime | None = None, events: bool = True) -> Seeded:
    """Seed ``due`` customers past their retention, and 2 % more the sweep must keep;
    with ``events``, the audit events of their history too."""
    from audits.services import record_events
    from incidents.models import OrderAnomaly, PrivacyReport
    from orders.models import Order, OrderTransition
    from privacy.models import DataSubject, NoticeRecord, PrivacyNotice, SubjectKey
    from privacy.routers import KEYSTORE
    from riders.models import Assignment, HandoverCode
    from tenants.actors import SystemActor
    from tenants.scoping import tenant_scope

    now = now or timezone.now()
    tenant = fx.tenant
    with tenant_scope(tenant):
        notice = PrivacyNotice.objects.order_by("-version").first()
    extra = max(1, due // LEFT_ALONE_EVERY)
    seeded = Seeded(
        due=[uuid.uuid4() for _ in range(due)],
        busy=[uuid.uuid4() for _ in range(extra)],
        recent=[uuid.uuid4() for _ in range(extra)],
    )
    everyone = [*seeded.due, *seeded.busy, *seeded.recent]
    kind = {**dict.fromkeys(seeded.busy, "busy"), **dict.fromkeys(seeded.recent, "recent")}
    copy_rows(
        KEYSTORE,
        SubjectKey._meta.db_table,
        ("id", "tenant_id", "tenant_key_version", "wrapped_key", "created_at"),
        ((i, tenant.pk, 1, b"k" * 60, now - timedelta(days=200)) for i in everyone),
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
            (
                i,
                tenant.pk,
                1 + n % 65_000,
                b"n" * 44,
                b"p" * 40,
                b"a" * 90,
                b"",
                "张*",
                "138****5678",
                "上海市浦东新区****",
                now - timedelta(days=200),
            )
            for n, i in enumerate(everyone)
        ),
    )
    # Orders: (order id, subject, its place among the customer's orders, status, finished at)
    orders: list[tuple[uuid.UUID, uuid.UUID, int, str, datetime]] = []
    for n, subject in enumerate(everyone):
        count = ORDERS_PER_SUBJECT[n % len(ORDERS_PER_SUBJECT)]
        for k in range(count):
            finished = now - timedelta(days=120 - 20 * k, minutes=n % 600)
            status = "cancelled" if (len(orders) + 1) % CANCELLED_EVERY == 0 else "delivered"
            if k == count - 1 and kind.get(subject) == "busy":
                status, finished = "preparing", now - timedelta(minutes=5)
            elif k == count - 1 and kind.get(subject) == "recent":
                finished = now - timedelta(days=1)
            orders.append((uuid.uuid4(), subject, k, status, finished))
    notice_ids = _reserve_ids("default", NoticeRecord._meta.db_table, len(orders))
    copy_rows(
        "default",
        NoticeRecord._meta.db_table,
        ("id", "tenant_id", "notice_id", "subject_id", "channel", "shown_at", "recorded_by"),
        (
            (nid, tenant.pk, notice.pk, subject, "phone", at - timedelta(hours=1), "user:1")
            for nid, (_o, subject, _k, _s, at) in zip(notice_ids, orders, strict=True)
        ),
    )
    codes = {order_id: f"Z{order_id.hex[:15].upper()}" for order_id, *_rest in orders}
    copy_rows(
        "default",
        Order._meta.db_table,
        ORDER_COLUMNS,
        (
            order_row(
                order_id,
                tenant.pk,
                codes[order_id],
                status,
                subject,
                nid,
                created_at=at - timedelta(hours=1),
                changed_at=at,
                seal="" if status == "cancelled" else "SEAL-0001",
                kitchen_ready_at=None if status == "cancelled" else at - timedelta(minutes=30),
            )
            for nid, (order_id, subject, _k, status, at) in zip(notice_ids, orders, strict=True)
        ),
    )
    transitions = [
        (tenant.pk, order_id, before, after, "user:1", at - timedelta(minutes=60 - 10 * step))
        for order_id, _s, _k, status, at in orders
        for step, (before, after) in enumerate(
            _delivered_path(status == "cancelled")
            if status != "preparing"
            else [("", "received"), ("received", "preparing")]
        )
    ]
    copy_rows(
        "default",
        OrderTransition._meta.db_table,
        ("tenant_id", "order_id", "from_status", "to_status", "actor", "at"),
        transitions,
    )
    rider = fx.rider.pk
    delivered = [o for o in orders if o[3] == "delivered"]
    copy_rows(
        "default",
        Assignment._meta.db_table,
        (
            "tenant_id",
            "order_id",
            "rider_id",
            "assigned_by",
            "assigned_at",
            "picked_up_at",
            "held_location",
            "held_note_ct",
            "held_at",
            "ended_at",
            "end_reason",
        ),
        (
            (
                tenant.pk,
                order_id,
                rider,
                "user:1",
                at - timedelta(minutes=30),
                at - timedelta(minutes=20),
                "parcel_locker" if n % HELD_EVERY == 0 else "",
                b"h" * 40 if n % HELD_EVERY == 0 else b"",
                at - timedelta(minutes=10) if n % HELD_EVERY == 0 else None,
                at,
                "delivered",
            )
            for n, (order_id, _s, _k, _st, at) in enumerate(delivered)
        ),
    )
    anomalies = delivered[::ANOMALY_EVERY]
    copy_rows(
        "default",
        OrderAnomaly._meta.db_table,
        (
            "tenant_id",
            "order_id",
            "kind",
            "reported_by",
            "reported_at",
            "resolved_at",
            "resolved_by",
            "outcome",
            "note",
            "assigned_to",
            "assigned_at",
        ),
        (
            (
                tenant.pk,
                order_id,
                "customer_unreachable",
                "user:1",
                at,
                at,
                "user:1",
                "resolved_with_customer",
                "客户电话打不通, 放在门口",
                "",
                None,
            )
            for order_id, _s, _k, _st, at in anomalies
        ),
    )
    handovers = delivered[::HANDOVER_EVERY]
    copy_rows(
        "default",
        HandoverCode._meta.db_table,
        (
            "tenant_id",
            "order_id",
            "code_hash",
            "issued_by",
            "reason",
            "issued_at",
            "expires_at",
            "used_at",
        ),
        (
            (tenant.pk, order_id, "0" * 64, "user:1", "客户忘记取件码", at, at, at)
            for order_id, _s, _k, _st, at in handovers
        ),
    )
    reports = [o for o in delivered if o[2] == 0][::REPORT_EVERY]
    copy_rows(
        "default",
        PrivacyReport._meta.db_table,
        (
            "tenant_id",
            "order_id",
            "subject_id",
            "kind",
            "description_ct",
            "tracking_hash",
            "status",
            "received_at",
            "due_at",
            "answer",
            "answered_at",
            "answered_by",
            "closed_at",
        ),
        (
            (
                tenant.pk,
                order_id,
                subject,
                "label",
                b"d" * 70,
                "0" * 64,
                "closed",
                at,
                at,
                "我们已更换标签模板",
                at,
                "user:1",
                at,
            )
            for order_id, subject, _k, _st, at in reports
        ),
    )
    # The audit events intake and the lifecycle wrote about them, through the product's
    # own append (hashed and chained, COPYed in large batches).
    appended = 0
    pending: list[Any] = []
    staff = SystemActor("bench-history")
    with tenant_scope(tenant):
        for order_id, subject, k, status, _at in orders if events else []:
            pending.extend(
                _order_events(
                    order_id, subject, codes[order_id], k == 0, status == "cancelled", rider
                )
            )
            if len(pending) >= EVENT_CHUNK:
                record_events(tenant=tenant, actor=staff, events=pending)
                appended, pending = appended + len(pending), []
        record_events(tenant=tenant, actor=staff, events=pending)
        appended += len(pending)
    with connections["default"].cursor() as cursor:
        for model in (
            DataSubject,
            Order,
            OrderTransition,
            NoticeRecord,
            Assignment,
            OrderAnomaly,
            HandoverCode,
            PrivacyReport,
        ):
            cursor.execute(f"ANALYZE {model._meta.db_table}")  # noqa: S608
    seeded.rows = {
        "subjects": len(everyone),
        "orders": len(orders),
        "notice_records": len(orders),
        "status_rows": len(transitions),
        "assignments": len(delivered),
        "anomalies": len(anomalies),
        "handover_codes": len(handovers),
        "privacy_reports": len(reports),
        "audit_events": appended,
    }
    return seeded


@dataclass(frozen=True)
class SweepRun:
    seconds: float  # the command end to end: process start, reconcile, sweep, exit
    setup_seconds: float  # interpreter and Django start-up, inside the process
    command_seconds: float  # the command itself: reconcile the ledger, then the sweep
    peak_rss_mb: float
    output: str


LAUNCHER = (
    "import os, sys, time\n"
    "t0 = time.perf_counter()\n"
    "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings')\n"
    "import django\n"
    "django.setup()\n"
    "from django.core.management import call_command\n"
    "t1 = time.perf_counter()\n"
    "call_command('retention_sweep', *sys.argv[1:])\n"
    "t2 = time.perf_counter()\n"
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
    "print('TIMES', t1 - t0, t2 - t1, 'VmHWM', hwm, file=sys.stderr)\n"
)


def run_sweep(slug: str, *extra: str, root: Path = ROOT) -> SweepRun:
    """``manage.py retention_sweep --tenant <slug>`` in a fresh process, timed; its peak RSS
    (VmHWM: this process's own since exec). ``root``: the checkout whose code runs."""
    start = time.perf_counter()
    worker = subprocess.run(  # noqa: S603
        [sys.executable, "-c", LAUNCHER, "--tenant", slug, *extra],
        cwd=root,
        env=os.environ,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if worker.returncode != 0:
        raise AssertionError(
            f"retention_sweep failed ({worker.returncode}): {worker.stderr[-2000:]}"
        )
    setup, command, _hwm, peak_kb = worker.stderr.rsplit("TIMES", 1)[1].split()[:4]
    return SweepRun(elapsed, float(setup), float(command), int(peak_kb) / 1024, worker.stdout)


def check_swept(fx: Any, seeded: Seeded) -> dict[str, int]:
    """Every due customer erased exactly once and completely; the others untouched. Raises
    AssertionError naming what is wrong."""
    from audits.models import AuditEvent
    from privacy.ledger_file import read_ledger_file
    from privacy.models import DataSubject, ErasureLedgerEntry, SubjectKey
    from privacy.registry import sealed_models
    from privacy.routers import KEYSTORE
    from tenants.scoping import tenant_scope

    due, kept = seeded.due, [*seeded.busy, *seeded.recent]
    problems: list[str] = []
    with tenant_scope(fx.tenant):
        keys_left = SubjectKey.objects.using(KEYSTORE).filter(pk__any=due).count()
        if keys_left:
            problems.append(f"{keys_left} keys of swept customers remain")
        kept_keys = SubjectKey.objects.using(KEYSTORE).filter(pk__any=kept).count()
        if kept_keys != len(kept):
            problems.append(f"{len(kept) - kept_keys} keys of customers to keep were destroyed")
        for spec in sealed_models():
            model = spec.model
            rows = model._default_manager.filter(**{f"{spec.subject_lookup}__any": due})
            holding = Q()
            for name in spec.fields:
                holding |= ~Q(**{f"{name}_ct": b""})
            for name in spec.masks:
                holding |= ~Q(**{name: ""})
            if model is DataSubject:
                holding |= ~Q(phone_bidx=0) | Q(erased_at__isnull=True)
            left = rows.filter(holding).count() if holding else 0
            if left:
                problems.append(f"{left} {model._meta.label} rows still hold personal data")
            if model is DataSubject:
                alive = model._default_manager.filter(pk__any=kept, erased_at__isnull=True).count()
                if alive != len(kept):
                    problems.append(f"{len(kept) - alive} customers to keep were erased")
        entries = dict(
            ErasureLedgerEntry.objects.filter(subject_id__any=[*due, *kept])
            .values_list("subject_id")
            .annotate(n=Count("pk"))
        )
        if set(entries) != set(due) or any(n != 1 for n in entries.values()):
            problems.append(
                f"the database ledger names {len(entries)} of {len(due)} swept customers "
                f"(others or twice: {len(set(entries) - set(due))})"
            )
        erased_events = dict(
            AuditEvent.objects.filter(
                action="privacy.subject_erased", object_id__in=[str(i) for i in due]
            )
            .values_list("object_id")
            .annotate(n=Count("pk"))
        )
        if len(erased_events) != len(due) or any(n != 1 for n in erased_events.values()):
            problems.append(f"{len(erased_events)} of {len(due)} erasures audited once")
    wanted = {str(i) for i in due} | {str(i) for i in kept}
    lines: dict[str, int] = {}
    for entry in read_ledger_file():
        if entry["subject"] in wanted:
            lines[entry["subject"]] = lines.get(entry["subject"], 0) + 1
    if set(lines) != {str(i) for i in due} or any(n != 1 for n in lines.values()):
        problems.append(
            f"the file ledger names {len(lines)} of {len(due)} swept customers "
            f"({sum(1 for n in lines.values() if n != 1)} more than once)"
        )
    if problems:
        raise AssertionError("; ".join(problems))
    return {"erased": len(due), "kept": len(kept)}


def verify_chain(fx: Any) -> int:
    from audits.verification import verify_tenant_chain

    checked, broken = verify_tenant_chain(fx.tenant)
    if broken is not None:
        raise AssertionError(f"the audit chain does not verify: {broken}")
    return checked


def sweep_floor(fx: Any, due: list[uuid.UUID]) -> float:
    """The floor under a sweep of ``due``: seconds to make, as plaintext statements, every
    write a sweep cannot skip — in one transaction, blank what erasure must blank in copies
    of the rows that hold it (every registered model's rows of the tenant with a sealed
    column or mask still set, copied into new tables with the same indexes), add a ledger
    row and an audit-event row per customer (copies of those tables, with their indexes;
    values fixed, no hash computed), commit; delete the customers' keys from a copy of the
    key table on the key store; append and fsync one file-ledger line per customer. No
    lookup of who is due, no lock, no MAC, no chain, no JSON made in Python. The copies are
    compact, fresh and small, so this is a lower bound of a sweep's work. Run before the
    sweep, when the rows holding personal data are (nearly all) the due customers'."""
    from privacy.models import DataSubject
    from privacy.registry import sealed_models

    quote = connection.ops.quote_name
    tenant = fx.tenant.pk
    copies: list[tuple[str, str]] = []
    # Table and column names from the models' metadata only; values are parameters.
    with connection.cursor() as cursor:
        for index, spec in enumerate(sealed_models()):
            model = spec.model
            columns = [quote(f"{f}_ct") for f in spec.fields]
            masks = [quote(m) for m in spec.masks]
            sets = [f"{c} = ''::bytea" for c in columns] + [f"{m} = ''" for m in masks]
            holding = [f"{c} <> ''::bytea" for c in columns] + [f"{m} <> ''" for m in masks]
            if model is DataSubject:
                sets += ["phone_bidx = 0", "erased_at = now()"]
                holding = ["erased_at IS NULL"]
            if not sets:
                continue
            copy = f"bench_floor_{index}"
            _copy_table(cursor, copy, model._meta.db_table)
            cursor.execute(
                f"INSERT INTO {copy} SELECT * FROM {quote(model._meta.db_table)} "  # noqa: S608
                f"WHERE tenant_id = %s AND ({' OR '.join(holding)})",
                [tenant],
            )
            cursor.execute(f"ANALYZE {copy}")
            copies.append((copy, ", ".join(sets)))
        _copy_table(cursor, "bench_floor_ledger", "privacy_erasureledgerentry")
        _copy_table(cursor, "bench_floor_events", "audits_auditevent")
    with connections["keystore"].cursor() as cursor:
        _copy_table(cursor, "bench_floor_keys", "privacy_subjectkey")
        cursor.execute(
            "INSERT INTO bench_floor_keys SELECT * FROM privacy_subjectkey "
            "WHERE tenant_id = %s AND id = ANY(%s::uuid[])",
            [tenant, due],
        )
    lines = [
        f'{{"kind":"intent","subject":"{pk}","tenant":{tenant},"reason":"retention",'
        f'"reference":"ER-{n:08d}","mac":"{"0" * 64}"}}\n'
        for n, pk in enumerate(due)
    ]
    ledger = ROOT / "var" / "bench" / f"floor-ledger-{os.getpid()}.jsonl"
    ledger.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for copy, sets in copies:
            cursor.execute(f"UPDATE {copy} SET {sets}")  # noqa: S608
        cursor.execute(
            "INSERT INTO bench_floor_ledger (tenant_id, subject_id, reference, reason, actor, "
            "records, erased_at) SELECT %s, s, 'ER-' || n, 'retention', 'system:retention', "
            "9, now() FROM unnest(%s::uuid[]) WITH ORDINALITY AS u(s, n)",
            [tenant, due],
        )
        cursor.execute(
            "INSERT INTO bench_floor_events (tenant_id, stripe, sequence, occurred_at, actor, "
            "action, object_type, object_id, fields, purpose, request_id, ip, details, "
            "prev_hash, hash) SELECT %s, n %% 16, n, now(), 'system:retention', "
            "'privacy.subject_erased', 'privacy.datasubject', s::text, '[]', '', '', NULL, "
            "jsonb_build_object('reason', 'retention', 'reference', 'ER-' || n, 'records', 9), "
            "repeat('0', 64), repeat('0', 64) FROM unnest(%s::uuid[]) WITH ORDINALITY AS u(s, n)",
            [tenant, due],
        )
    with connections["keystore"].cursor() as cursor:
        cursor.execute(
            "DELETE FROM bench_floor_keys WHERE tenant_id = %s AND id = ANY(%s::uuid[])",
            [tenant, due],
        )
    with open(ledger, "w", encoding="utf-8") as out:
        out.write("".join(lines))
        out.flush()
        os.fsync(out.fileno())
    seconds = time.perf_counter() - start
    ledger.unlink()
    with connection.cursor() as cursor:
        for copy in [c for c, _sets in copies] + ["bench_floor_ledger", "bench_floor_events"]:
            cursor.execute(f"DROP TABLE {copy}")
    with connections["keystore"].cursor() as cursor:
        cursor.execute("DROP TABLE bench_floor_keys")
    return seconds


def _copy_table(cursor: Any, copy: str, table: str) -> None:
    """An empty table shaped like ``table``: its columns, defaults, identity and indexes."""
    cursor.execute(f"DROP TABLE IF EXISTS {copy}")
    cursor.execute(
        f"CREATE TABLE {copy} (LIKE {table} INCLUDING DEFAULTS INCLUDING IDENTITY "
        "INCLUDING INDEXES)"
    )


def _round(
    fx: Any, subjects: int, events: bool, root: Path
) -> tuple[SweepRun, Seeded, float, float]:
    start = time.perf_counter()
    seeded = seed_subjects(fx, subjects, events=events)
    seed_seconds = time.perf_counter() - start
    floor = sweep_floor(fx, seeded.due) if root == ROOT else 0.0
    run = run_sweep(fx.tenant.slug, root=root)
    check_swept(fx, seeded)
    return run, seeded, seed_seconds, floor


def bench_retention(fx: Any, quick: bool, subjects: int | None = None) -> dict[str, Any]:
    """``ROUNDS`` rounds, each with a fresh seed of 5,000 (quick) or 100,000 customers past
    their retention; subjects per second of the command end to end (process start
    included), and of the command's own work (reconcile and sweep), median and IQR.

    The audit history (10 events per delivered order) is seeded with every round in quick
    mode; at full size with the first round only (4 million events: the sweep never reads
    them, and the chain they make is verified at the end all the same).

    With ``BENCH_RETENTION_BASELINE`` naming another checkout of the project (an older
    commit, same schema), every round also sweeps a second fresh seed with that code, in
    alternating order, and the paired ratio (ours ÷ baseline, command's own time) is
    reported. ``subjects`` overrides the size of a round."""
    subjects = subjects or (5_000 if quick else 100_000)
    baseline = os.environ.get("BENCH_RETENTION_BASELINE")
    rates, own_rates, seconds, setups, peaks, seed_seconds = [], [], [], [], [], []
    floors: list[float] = []
    floors_end_to_end: list[float] = []
    base_rates: list[float] = []
    rows: dict[str, int] = {}
    for index in range(ROUNDS):
        events = quick or index == 0
        order = [ROOT, Path(baseline)] if baseline else [ROOT]
        for root in order if index % 2 == 0 else reversed(order):
            run, seeded, seeded_in, floor = _round(fx, subjects, events, root)
            if root != ROOT:
                base_rates.append(subjects / run.command_seconds)
                continue
            seed_seconds.append(seeded_in)
            rows = rows or seeded.rows
            rates.append(subjects / run.seconds)
            own_rates.append(subjects / run.command_seconds)
            floors.append(subjects / floor)
            floors_end_to_end.append(subjects / (floor + run.setup_seconds))
            seconds.append(run.seconds)
            setups.append(run.setup_seconds)
            peaks.append(run.peak_rss_mb)
    start = time.perf_counter()
    checked = verify_chain(fx)
    return {
        "subjects": subjects,
        "rows_first_round": rows,
        "subjects_per_s_end_to_end": spread(rates),
        "subjects_per_s_command": spread(own_rates),
        "per_round_end_to_end": [round(r) for r in rates],
        "per_round_command": [round(r) for r in own_rates],
        # The floor: every write a sweep cannot skip, as plaintext statements into compact
        # copies (sweep_floor); with the same round's process start, against end to end.
        "floor_subjects_per_s": spread(floors),
        "floor_subjects_per_s_with_process_start": spread(floors_end_to_end),
        "command_to_floor": paired_ratio(own_rates, floors),
        "end_to_end_to_floor_with_process_start": paired_ratio(rates, floors_end_to_end),
        **(
            {
                "baseline_subjects_per_s_command": spread(base_rates),
                "ratio_to_baseline_command": paired_ratio(own_rates, base_rates),
            }
            if baseline
            else {}
        ),
        "seconds": spread(seconds),
        "process_setup_seconds": spread(setups),
        "worker_peak_rss_mb": max(peaks),
        "seed_seconds": spread(seed_seconds),
        "path": "manage.py retention_sweep --tenant in a fresh process: reconcile_ledger, "
        "then sweep_tenant (what the hourly beat job privacy.tasks.retention_sweep runs)",
        "checked": "keys destroyed, sealed columns and masks blank in every registered "
        "model, database and file ledger once per customer, one audit event each, kept "
        "customers intact, audit chain verified",
        "chain_events_verified": checked,
        "verify_seconds": time.perf_counter() - start,
    }
