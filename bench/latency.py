"""The bench's ``latency`` step (issue 21): what a caller waits for, under 16 concurrent
clients, in a tenant of 10k orders and one of 1.1M.

Both tenants are served by one gunicorn (2 workers, as the other HTTP steps) and measured
in every round, one after the other (the order alternates between rounds): intake (a
partner's token posting a new order, for a returning customer) and reveal (a customer
service agent's session revealing a phone number of one of the tenant's real orders).
Latencies of all rounds are pooled per size into p50/p95/p99; the size ratio of p95 is
the median of the per-round paired ratios with its interquartile range.
"""

from __future__ import annotations

import json
from typing import Any

from bench.common import (
    CLIENTS,
    ORDER,
    ROUNDS,
    Fixture,
    gunicorn,
    load,
    paired_ratio,
    percentiles,
    staff_headers,
)


def _quiet_alerts(fx: Fixture) -> None:
    """The bench's agent reveals far more than a person would: the tenant's privacy officer
    raises the anomalous-access thresholds to their maxima and the working day to the
    whole day (as a tenant may), so the step measures reveals, not alert bookkeeping."""
    import datetime

    from audits.hours import settings_for
    from tenants.scoping import tenant_scope

    with tenant_scope(fx.tenant):
        settings = settings_for(fx.tenant)
        settings.reveal_burst_count = 100_000
        settings.denied_count = 10_000
        settings.paging_pages = 100_000
        settings.workday_start, settings.workday_end = datetime.time(0, 0), datetime.time(23, 59)
        settings.save()


def bench_latency(
    tenants: dict[int, Fixture], *, rounds: int = ROUNDS, per_client: int = 10
) -> dict[str, Any]:
    from privacy.permissions import Purpose
    from tenants.models import Role

    targets = {}
    for size, fx in tenants.items():
        _quiet_alerts(fx)
        targets[size] = (fx, fx.order.pk, staff_headers(fx.users[Role.CUSTOMER_SERVICE]))
    intake_body = json.dumps(ORDER)
    reveal_body = json.dumps({"fields": ["phone"], "purpose": Purpose.CUSTOMER_SERVICE_CALL})
    samples: dict[str, dict[int, list[float]]] = {"intake": {}, "reveal": {}}
    p95s: dict[str, dict[int, list[float]]] = {"intake": {}, "reveal": {}}
    with gunicorn(workers=2) as port:

        def run(kind: str, size: int) -> None:
            fx, order_id, session = targets[size]
            if kind == "intake":
                headers = {
                    "Authorization": f"Bearer {fx.token}",
                    "Content-Type": "application/json",
                }
                request = ("POST", "/api/v1/orders/", intake_body, headers)
                expect = 201
            else:
                headers = {**session, "Content-Type": "application/json"}
                request = ("POST", f"/api/v1/orders/{order_id}/reveal/", reveal_body, headers)
                expect = 200
            _rate, latencies = load(
                port, lambda _c, _n: request, clients=CLIENTS, per_client=per_client, expect=expect
            )
            samples[kind].setdefault(size, []).extend(latencies)
            p95s[kind].setdefault(size, []).append(percentiles(latencies)["p95_ms"])

        sizes = sorted(tenants)
        for kind in samples:  # warm up every path of both workers
            for size in sizes:
                run(kind, size)
            samples[kind].clear()
            p95s[kind].clear()
        for index in range(rounds):
            for kind in samples:
                for size in sizes if index % 2 == 0 else reversed(sizes):
                    run(kind, size)
    small, large = min(tenants), max(tenants)
    return {
        "clients": CLIENTS,
        "rounds": rounds,
        **{
            kind: {
                **{f"{size}_orders": percentiles(samples[kind][size]) for size in sizes},
                # Lower is better for latency: the ratio is large ÷ small (≤ 1.2 is flat).
                "p95_ratio_large_to_small": paired_ratio(p95s[kind][large], p95s[kind][small]),
            }
            for kind in samples
        },
    }
