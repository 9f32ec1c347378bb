"""What every bench step shares: the fixture tenant, paired rounds and their ratio with its
spread, latency percentiles under concurrent clients, and a gunicorn on a free port.

Rules of the bench (issue 21):

* a ratio is the **median of per-round paired ratios** (product ÷ baseline measured one
  right after the other in the same round), printed with its interquartile range;
* at least ``ROUNDS`` (7) rounds; every size of a scaling test is measured in every round,
  interleaved with the others, never one size after another;
* a free port and databases named for the run; nothing random can fail a fixture.
"""

from __future__ import annotations

import http.client
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.db import connections
from django.utils import timezone

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 7
CLIENTS = 16

ORDER = {
    "customer": {
        "name": "张三丰",
        "phone": "13812345678",
        "address": "上海市浦东新区张江路88号7栋1201室",
    },
    "items": [{"name": "宫保鸡丁", "quantity": 2}, {"name": "米饭", "quantity": 1}],
    "note": "放门口",
    "privacy_notice_version": 1,
}
PLAIN = {
    **ORDER["customer"],
    "items": ORDER["items"],
    "note": ORDER["note"],
    "privacy_notice_version": 1,
}


# --- Statistics ------------------------------------------------------------------------


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """(Q1, median, Q3) of ``values`` (inclusive method: defined from one value up)."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def spread(values: Sequence[float]) -> dict[str, Any]:
    """The median of ``values`` with its interquartile range and the values themselves."""
    q1, median, q3 = quartiles(values)
    return {"median": median, "iqr": [q1, q3], "iqr_width": q3 - q1, "n": len(values)}


def paired_ratio(ours: Sequence[float], base: Sequence[float]) -> dict[str, Any]:
    """The median of the per-round ratios ``ours[i] / base[i]`` (rates: higher is better)
    with its interquartile range."""
    ratios = [o / b for o, b in zip(ours, base, strict=True)]
    return {**spread(ratios), "per_round": [round(r, 4) for r in ratios]}


def percentiles(latencies_s: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99 in milliseconds (nearest-rank on the sorted sample)."""
    ordered = sorted(latencies_s)
    if not ordered:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0, "n": 0}

    def rank(p: float) -> float:
        index = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
        return ordered[index] * 1000

    return {"p50_ms": rank(50), "p95_ms": rank(95), "p99_ms": rank(99), "n": len(ordered)}


def interleaved(rounds: int, *runs: Callable[[], float]) -> list[list[float]]:
    """Run each of ``runs`` (each returns a rate) once per round, in turn, for ``rounds``
    rounds; the samples of each run. The order within a round alternates (forward on even
    rounds, backward on odd ones), so no run always goes first on a warm or cold host."""
    samples: list[list[float]] = [[] for _ in runs]
    order = list(range(len(runs)))
    for index in range(rounds):
        for position in order if index % 2 == 0 else reversed(order):
            samples[position].append(runs[position]())
    return samples


def timed(operations: int, body: Callable[[], None]) -> float:
    """Operations per second of one call of ``body`` doing ``operations``."""
    start = time.perf_counter()
    body()
    return operations / (time.perf_counter() - start)


def run_threads(target: Callable[[], None], count: int) -> float:
    """Run ``target`` in ``count`` threads at once; the seconds until all have finished."""
    pool = [threading.Thread(target=target) for _ in range(count)]
    start = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return time.perf_counter() - start


# --- HTTP: a real server and concurrent clients -----------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def gunicorn(workers: int = 2, threads: int = 1) -> Iterator[int]:
    """The product under gunicorn on a free port, with this process's environment (the
    bench's databases); yields the port and stops the server after."""
    port = free_port()
    server = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ},
    )
    try:
        for _ in range(300):
            if server.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {server.returncode}")
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                probe.request("GET", "/admin/login/", headers={"Host": "localhost"})
                probe.getresponse().read()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"gunicorn did not answer on port {port}")
        yield port
    finally:
        server.terminate()
        server.wait(10)


Request = tuple[str, str, str | None, dict[str, str]]  # method, path, body, headers


def load(
    port: int,
    requests: Callable[[int, int], Request],
    *,
    clients: int = CLIENTS,
    per_client: int = 20,
    expect: int = 200,
) -> tuple[float, list[float]]:
    """``clients`` concurrent keep-alive clients each sending ``per_client`` requests
    (``requests(client, n)`` gives each); returns (requests per second, latencies in s).
    A response other than ``expect`` fails the step."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures: list[str] = []

    def client(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = latencies[index]
        for n in range(per_client):
            method, path, body, headers = requests(index, n)
            start = time.perf_counter()
            conn.request(method, path, body, {"Host": "localhost", **headers})
            response = conn.getresponse()
            payload = response.read()
            mine.append(time.perf_counter() - start)
            if response.status != expect and len(failures) < 3:
                failures.append(f"{method} {path}: {response.status} {payload[:200]!r}")
        conn.close()

    pool = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise AssertionError("; ".join(failures))
    flat = [value for mine in latencies for value in mine]
    return len(flat) / elapsed, flat


# --- The fixture tenant ------------------------------------------------------------------


def fixture_password() -> str:
    """A password Django's validators always accept: random, long, unlike any user name."""
    return f"Qz7!{secrets.token_urlsafe(18)}"


class Fixture:
    """A fresh tenant with a notice, staff of every role (trained), a token, a signed
    rider and one real order."""

    def __init__(self) -> None:
        from privacy.notices import publish_notice
        from riders.agreements import publish_agreement, sign_agreement
        from riders.profiles import ensure_rider_profile
        from tenants.actors import SystemActor
        from tenants.models import Role
        from tenants.services import create_staff_user, create_tenant, issue_api_token

        system = SystemActor("bench")
        slug = f"bench-{uuid.uuid4().hex[:8]}"
        self.tenant = create_tenant(slug=slug, name="Bench", actor=system)
        publish_notice(
            tenant=self.tenant,
            actor=system,
            retention_days=7,
            purpose_zh="配送",
            purpose_en="Delivery",
            scope_zh="姓名电话地址",
            scope_en="Name, phone, address",
            use_zh="仅配送",
            use_en="Delivery only",
        )
        self.password = fixture_password()
        self.users = {
            role: create_staff_user(
                tenant=self.tenant,
                username=f"{slug}-{role.value}",
                password=self.password,
                roles=[role],
                actor=system,
            )
            for role in Role
        }
        # Trained staff, as in a working tenant: every user passes the starter courses of
        # their roles and signs the pledge (training.gates let them reveal and be dispatched).
        from training.starter import seed_demo_training

        seed_demo_training(self.tenant, system)
        self.token = issue_api_token(tenant=self.tenant, name="bench", actor=system)[1]
        self.rider = ensure_rider_profile(user=self.users[Role.RIDER], actor=system)
        publish_agreement(tenant=self.tenant, actor=system, text_zh="保密", text_en="Secret")
        sign_agreement(rider=self.rider, version=1, language="en", ip=None)
        from orders.intake import create_order

        #: The tenant's one real order (sealed for real: what the reveal steps open).
        self.order = create_order(
            tenant=self.tenant,
            actor=self.users[Role.CUSTOMER_SERVICE],
            privacy_notice_version=1,
            customer=ORDER["customer"],
            items=ORDER["items"],
            note=ORDER["note"],
            channel="phone",
        ).order


def copy_rows(alias: str, table: str, columns: tuple[str, ...], rows: Any) -> None:
    """COPY ``rows`` into ``table`` on ``alias`` (bulk seeding)."""
    with (
        connections[alias].cursor() as cursor,
        cursor.cursor.copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN"  # noqa: S608
        ) as copy,
    ):
        for row in rows:
            copy.write_row(row)


#: The columns of an order row the bench's seeders write by COPY (``order_row``).
ORDER_COLUMNS = (
    "id",
    "tenant_id",
    "code",
    "status",
    "subject_id",
    "notice_record_id",
    "name_ct",
    "phone_ct",
    "address_ct",
    "note_ct",
    "items_ct",
    "recipient_masked",
    "phone_masked",
    "address_masked",
    "district",
    "item_count",
    "seal_number",
    "kitchen_ready_at",
    "pin_hash",
    "pin_attempts",
    "created_at",
    "status_changed_at",
)


def order_row(
    order_id: uuid.UUID,
    tenant_id: int,
    code: str,
    status: str,
    subject: uuid.UUID,
    notice_record_id: int,
    *,
    created_at: Any,
    changed_at: Any,
    seal: str = "",
    kitchen_ready_at: Any = None,
) -> tuple[Any, ...]:
    """One order for COPY in ``ORDER_COLUMNS``' order, its ciphertexts filler and its masks
    those of the bench's one customer (seeded orders are listed and swept, never revealed)."""
    return (
        order_id,
        tenant_id,
        code,
        status,
        subject,
        notice_record_id,
        b"x" * 60,
        b"x" * 40,
        b"x" * 80,
        b"x" * 30,
        b"x" * 80,
        "张*",
        "138****5678",
        "上海市浦东新区张江路****",
        "上海市浦东新区",
        3,
        seal,
        kitchen_ready_at,
        "0" * 64,
        0,
        created_at,
        changed_at,
    )


def bulk_orders(
    fx: Fixture,
    count: int,
    *,
    status: str,
    changed_at: Any,
    subjects: list[uuid.UUID] | None = None,
    created_at: Any = None,
) -> list[uuid.UUID]:
    """Insert ``count`` orders fast (COPY): one per subject of ``subjects``, or all for the
    fixture's first customer; they share one notice record. Ciphertexts are filler: these
    orders are listed and swept, never revealed."""
    from orders.models import Order
    from privacy.models import DataSubject, NoticeRecord
    from tenants.scoping import tenant_scope

    with tenant_scope(fx.tenant):
        first = DataSubject.objects.first()
        record = NoticeRecord.objects.first()
    owners = subjects or [first.pk] * count
    ids = [uuid.uuid4() for _ in range(count)]
    now = created_at or timezone.now()
    copy_rows(
        "default",
        Order._meta.db_table,
        ORDER_COLUMNS,
        (
            order_row(
                order_id,
                fx.tenant.pk,
                f"Z{uuid.uuid4().hex[:15].upper()}",
                status,
                owner,
                record.pk,
                created_at=now,
                changed_at=changed_at,
            )
            for order_id, owner in zip(ids, owners, strict=True)
        ),
    )
    return ids


def staff_headers(user: Any) -> dict[str, str]:
    """Headers of a logged-in back-office session for ``user`` (after the second factor,
    when the role needs one) with its CSRF cookie and header, for HTTP clients."""
    from django.conf import settings
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tenants.two_factor import needs_two_factor

    client = Client()
    client.force_login(user)
    if needs_two_factor(user):
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    csrf = secrets.token_hex(16)  # a 32-character secret: Django accepts it as the token
    cookie = (
        f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}; "
        f"{settings.CSRF_COOKIE_NAME}={csrf}"
    )
    return {"Cookie": cookie, "X-CSRFToken": csrf}
