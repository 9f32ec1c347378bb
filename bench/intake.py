"""Bench step ``intake`` (issue 21, points 2, 3 and 7): what confidentiality and the request
stack cost at intake, for a returning customer (the same phone) and a new one (a fresh phone
each time), as medians of per-round paired ratios with their IQR over interleaved rounds.

(a) in process: ``orders.intake.create_order`` against a plain ORM insert of the same row
    (``bench.models.PlainOrder``);
(b) over HTTP under gunicorn (2 workers, ``CLIENTS`` concurrent keep-alive clients): the order
    API against the plaintext baseline behind the same DRF stack (/bench/plain-orders/) and
    against the bare baseline without authentication or throttling
    (/bench/bare-plain-orders/), with latency percentiles;
(c) the stack alone: the same-stack baseline ÷ the bare baseline, paired per round;
(d) the floors (``bench/floors.py``), in (a) and (b) beside the baselines: the plaintext
    baseline after the two round trips intake cannot skip before its write (the phone's
    match, then the customer's key read, or for a new customer inserted, on the key store)
    — the best ratio any intake under the same rules could reach on this host.

Targets: (b) ≥ 0.85 of the same-stack baseline and ≥ 0.6 of the bare one for both
customers; (c) ≥ 0.8; (a) create_order at most 2× the plain insert (a ratio ≥ 0.5).

The gunicorn of (b) runs with the database pool (``DATABASE_POOL=1``) when psycopg-pool is
installed, as production would (docs/decisions/0020); ``BENCH_DATABASE_POOL=0`` turns it off.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench.common import (
    CLIENTS,
    ORDER,
    PLAIN,
    ROUNDS,
    Fixture,
    gunicorn,
    interleaved,
    load,
    paired_ratio,
    percentiles,
    spread,
    timed,
)

# Fresh phones: 139 + 8 digits from a random start, never the fixture's 13812345678.
_phones = itertools.count(secrets.randbelow(50_000_000))


def _fresh_phone() -> str:
    return f"139{next(_phones) % 100_000_000:08d}"


def _order(phone: str | None) -> dict[str, Any]:
    order: dict[str, Any] = dict(ORDER)
    if phone is not None:
        order["customer"] = {**order["customer"], "phone": phone}
    return order


def bench_intake(fx: Fixture, quick: bool) -> dict[str, Any]:
    from bench.floors import ensure_floor_tables

    ensure_floor_tables()
    rounds = ROUNDS
    return {
        "in_process": _in_process(fx, rounds, 30 if quick else 200),
        "http": _over_http(fx, rounds, 5 if quick else 20),
    }


# --- (a) in process --------------------------------------------------------------------------


def _in_process(fx: Fixture, rounds: int, per_round: int) -> dict[str, Any]:
    from bench.floors import intake_round_trips
    from bench.models import PlainOrder
    from orders.intake import create_order
    from tenants.services import authenticate_api_token

    actor = authenticate_api_token(fx.token)
    assert actor is not None

    def product(new: bool) -> Callable[[], float]:
        def body() -> None:
            for _ in range(per_round):
                order = _order(_fresh_phone() if new else None)
                create_order(
                    tenant=fx.tenant,
                    actor=actor,
                    customer=order["customer"],
                    items=order["items"],
                    note=order["note"],
                    privacy_notice_version=1,
                    channel="api",
                )

        return lambda: timed(per_round, body)

    def baseline() -> float:
        def body() -> None:
            for _ in range(per_round):
                PlainOrder._default_manager.create(**PLAIN)

        return timed(per_round, body)

    def floor(new: bool) -> Callable[[], float]:
        # The plain insert after the two round trips intake cannot skip (bench/floors.py).
        def body() -> None:
            for _ in range(per_round):
                intake_round_trips(new=new)
                PlainOrder._default_manager.create(**PLAIN)

        return lambda: timed(per_round, body)

    returning, new = product(False), product(True)
    floor_returning, floor_new = floor(False), floor(True)
    runs = (returning, baseline, new, floor_returning, floor_new)
    for run in runs:  # warm every path
        run()
    ours_returning, base, ours_new, low_returning, low_new = interleaved(rounds, *runs)
    return {
        "per_round": per_round,
        "returning_per_s": spread(ours_returning),
        "new_per_s": spread(ours_new),
        "plain_insert_per_s": spread(base),
        # Target ≥ 0.5: create_order at most twice the plain insert's time.
        "returning_ratio": paired_ratio(ours_returning, base),
        "new_ratio": paired_ratio(ours_new, base),
        # The floors against the same plain insert: the best ratio any intake could reach.
        "floor_returning_per_s": spread(low_returning),
        "floor_new_per_s": spread(low_new),
        "floor_returning_ratio": paired_ratio(low_returning, base),
        "floor_new_ratio": paired_ratio(low_new, base),
    }


# --- (b), (c) over HTTP --------------------------------------------------------------------------


@contextmanager
def _pooled() -> Iterator[bool]:
    """The environment gunicorn inherits: the database pool on unless turned off."""
    wanted = os.environ.get("BENCH_DATABASE_POOL", "1") != "0"
    try:
        import psycopg_pool  # noqa: F401
    except ImportError:
        wanted = False
    saved = os.environ.get("DATABASE_POOL")
    if wanted:
        os.environ["DATABASE_POOL"] = "1"
        os.environ.pop("DATABASE_CONN_MAX_AGE", None)
    try:
        yield wanted
    finally:
        if saved is None:
            os.environ.pop("DATABASE_POOL", None)
        else:
            os.environ["DATABASE_POOL"] = saved


def _over_http(fx: Fixture, rounds: int, per_client: int) -> dict[str, Any]:
    token = {"Authorization": f"Bearer {fx.token}", "Content-Type": "application/json"}
    plain_json = {"Content-Type": "application/json"}
    returning_body = json.dumps(_order(None))
    plain_body = json.dumps(PLAIN)
    latencies: dict[str, list[float]] = {}

    def run(
        name: str, path: str, headers: dict[str, str], new: bool, body: str
    ) -> Callable[[], float]:
        def request(_client: int, _n: int) -> tuple[str, str, str | None, dict[str, str]]:
            sent = json.dumps(_order(_fresh_phone())) if new else body
            return "POST", path, sent, headers

        def measure() -> float:
            rate, seen = load(port, request, clients=CLIENTS, per_client=per_client, expect=201)
            latencies.setdefault(name, []).extend(seen)
            return rate

        return measure

    with _pooled() as pooled, gunicorn(workers=2) as port:
        runs = [
            run("orders_returning", "/api/v1/orders/", token, False, returning_body),
            run("baseline", "/bench/plain-orders/", token, False, plain_body),
            run("orders_new", "/api/v1/orders/", token, True, ""),
            run("bare_baseline", "/bench/bare-plain-orders/", plain_json, False, plain_body),
            run("floor_returning", "/bench/floor-orders/", token, False, plain_body),
            run("floor_new", "/bench/floor-orders/?new=1", token, False, plain_body),
        ]
        for warm in runs:  # both workers on every path
            warm()
        latencies.clear()
        returning, base, new, bare, low_returning, low_new = interleaved(rounds, *runs)
    return {
        "workers": 2,
        "clients": CLIENTS,
        "per_client": per_client,
        "database_pool": pooled,
        "per_s": {
            "orders_returning": spread(returning),
            "orders_new": spread(new),
            "baseline": spread(base),
            "bare_baseline": spread(bare),
            "floor_returning": spread(low_returning),
            "floor_new": spread(low_new),
        },
        # Targets: ≥ 0.85 of the same-stack baseline, ≥ 0.6 of the bare one.
        "returning_to_baseline": paired_ratio(returning, base),
        "new_to_baseline": paired_ratio(new, base),
        "returning_to_bare": paired_ratio(returning, bare),
        "new_to_bare": paired_ratio(new, bare),
        # The floors (bench/floors.py) against the same-stack baseline: the best ratio any
        # intake could reach here with the round trips it cannot skip.
        "floor_returning_to_baseline": paired_ratio(low_returning, base),
        "floor_new_to_baseline": paired_ratio(low_new, base),
        "floor_returning_to_bare": paired_ratio(low_returning, bare),
        "floor_new_to_bare": paired_ratio(low_new, bare),
        # (c) the stack alone; target ≥ 0.8.
        "stack_baseline_to_bare": paired_ratio(base, bare),
        "latency": {name: percentiles(values) for name, values in latencies.items()},
    }
