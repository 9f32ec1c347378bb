"""The bench's ``lists`` step (issue 21): lists that stay flat at a million orders.

Two tenants, one of 10k orders and one of 1.1M (quick: 2k and 50k), orders spread over 90
days (seeded in SQL, ``bench.dashboard.seed_orders``; ANALYZE after) and an audit log of
``EVENTS_PER_ORDER`` events per order each (``bench.dashboard.seed_events``: fake hashes,
reads only). Under gunicorn (2 workers) with 16 concurrent clients, every round measures,
for both sizes one right after the other (the order alternating between rounds):

* ``api_first``: ``GET /api/v1/orders/`` (integration token), the first page;
* ``api_deep``: the same list from the middle of the tenant (a cursor at row size/2);
* ``admin_orders``: the back office's order list (a customer-service agent);
* ``admin_orders_deep``: that list from the middle of the tenant;
* ``admin_audit``: the audit log's list (a supervisor).

Staff sessions are made as the admin's login leaves them: Django's login in a stored
session, and the two-factor verified state (django-otp's device id in the session) for
roles that need a second factor (tenants.two_factor). Per target and size: p50/p95/p99 over
all rounds; and the median of the per-round paired ratios p95(large) / p95(small) with its
IQR (target: at most 1.2). The plans of the API's page at both depths, EXPLAIN ANALYZE, in
the large tenant are reported too.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from django.db import connection

from bench.common import (
    Fixture,
    gunicorn,
    interleaved,
    load,
    paired_ratio,
    percentiles,
    spread,
    staff_headers,
)
from bench.dashboard import seed_events, seed_orders

SIZES = [10_000, 1_100_000]
QUICK_SIZES = [2_000, 50_000]
EVENTS_PER_ORDER = 3
ROUNDS = 7
TARGET = 1.2


def seed_sized_tenants(sizes: list[int]) -> dict[int, Fixture]:
    """A fixture tenant per size holding that many orders (its one real order and the
    rest seeded in SQL over 90 days, ANALYZE after)."""
    tenants = {}
    for size in sizes:
        fx = Fixture()
        fx.seed_seconds = seed_orders(fx.tenant, size - 1)  # type: ignore[attr-defined]
        tenants[size] = fx
    return tenants


def _seed_log(fx: Fixture, events: int) -> float:
    actors = [f"user:{user.pk}" for user in fx.users.values()]
    return seed_events(fx.tenant, events, actors)


def _middle_cursor(fx: Fixture, size: int) -> str:
    """A cursor at the middle row of the tenant's list (found once, with an offset)."""
    from core.keyset import encode_cursor
    from orders.models import Order
    from tenants.scoping import tenant_scope

    with tenant_scope(fx.tenant):
        row = Order.objects.order_by("-created_at", "-id").values("created_at", "id")[size // 2]
    return encode_cursor((row["created_at"], row["id"]))


def _plans(fx: Fixture, cursor: str) -> dict[str, Any]:
    """EXPLAIN ANALYZE of the API's page (first and from the middle) in ``fx``'s tenant:
    the execution time and whether the plan sorts or counts."""
    from core.keyset import decode_cursor, keys_of, keyset_page
    from orders.api import OrderPages
    from orders.models import Order
    from orders.selectors import orders_listed
    from orders.serializers import OrderOut
    from tenants.models import Role
    from tenants.scoping import tenant_scope

    keys = keys_of(Order, OrderPages.ordering)
    found: dict[str, Any] = {}
    with tenant_scope(fx.tenant):
        listed = orders_listed(fx.users[Role.CUSTOMER_SERVICE]).values(*OrderOut.LIST_COLUMNS)
        for name, position in (("first", None), ("middle", decode_cursor(cursor, Order, keys))):
            from django.test.utils import CaptureQueriesContext

            with CaptureQueriesContext(connection) as queries:
                keyset_page(listed, keys, position, OrderPages.page_size)
            sql = queries.captured_queries[-1]["sql"]
            with connection.cursor() as db:
                db.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
                plan = db.fetchone()[0]
            plan = plan if isinstance(plan, list) else json.loads(plan)
            text = json.dumps(plan)
            found[name] = {
                "execution_ms": plan[0]["Execution Time"],
                "sorts": '"Sort"' in text,
                "index": "order_list" in text,
                "counts": "count(" in sql.lower(),
            }
    return found


def _follow(port: int, path: str, headers: dict[str, str], pages: int) -> int:
    """Follow ``pages`` next links from ``path`` (API: JSON ``next``; admin: ``page-next``);
    how many pages were reached."""
    import http.client
    import re
    from urllib.parse import urlsplit

    reached = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(pages):
        conn.request("GET", path, None, {"Host": "localhost", **headers})
        response = conn.getresponse()
        body = response.read().decode()
        assert response.status == 200, (path, response.status)  # noqa: S101
        reached += 1
        if path.startswith("/api/"):
            following = json.loads(body)["next"]
            if not following:
                break
            parts = urlsplit(following)
            path = f"{parts.path}?{parts.query}"
        else:
            link = re.search(r'<a href="([^"]+)" rel="next"', body)
            if not link:
                break
            path = urlsplit(path).path + link.group(1).replace("&amp;", "&")
    conn.close()
    return reached


def bench_lists(
    fx: Fixture, quick: bool, tenants: dict[int, Fixture] | None = None
) -> dict[str, Any]:
    """The step; ``tenants`` (two sizes) when the caller seeded them already."""
    from tenants.models import Role

    sizes = sorted(tenants) if tenants else (QUICK_SIZES if quick else SIZES)
    per_client = 2  # 32 requests a measurement; 2 sizes x 5 lists x 7 rounds
    started = time.perf_counter()
    tenants = tenants or seed_sized_tenants(sizes)
    seeded_orders = time.perf_counter() - started
    log_seconds = {size: _seed_log(tenants[size], size * EVENTS_PER_ORDER) for size in sizes}
    middle = {size: _middle_cursor(tenants[size], size) for size in sizes}
    plans = _plans(tenants[sizes[-1]], middle[sizes[-1]])

    headers: dict[int, dict[str, dict[str, str]]] = {}
    for size, tenant in tenants.items():
        agent = staff_headers(tenant.users[Role.CUSTOMER_SERVICE])["Cookie"]
        supervisor = staff_headers(tenant.users[Role.SUPERVISOR])["Cookie"]
        token = {"Authorization": f"Bearer {tenant.token}", "Accept": "application/json"}
        headers[size] = {
            "api": token,
            "agent": {"Cookie": agent, "Accept-Language": "en"},
            "supervisor": {"Cookie": supervisor, "Accept-Language": "en"},
        }

    def targets(size: int) -> dict[str, tuple[str, str]]:
        cursor = middle[size]
        return {
            "api_first": ("api", "/api/v1/orders/"),
            "api_deep": ("api", f"/api/v1/orders/?cursor={cursor}"),
            "admin_orders": ("agent", "/admin/orders/order/"),
            "admin_orders_deep": ("agent", f"/admin/orders/order/?cursor={cursor}"),
            "admin_audit": ("supervisor", "/admin/audits/auditevent/"),
        }

    names = list(targets(sizes[0]))
    latencies: dict[str, dict[int, list[float]]] = {n: {s: [] for s in sizes} for n in names}
    result: dict[str, Any] = {
        "sizes": sizes,
        "events": {size: size * EVENTS_PER_ORDER for size in sizes},
        "seed_orders_seconds": seeded_orders,
        "seed_events_seconds": log_seconds,
        "clients": 16,
        "workers": 2,
        "requests_per_measurement": 16 * per_client,
        "plans_large_tenant": plans,
    }
    with gunicorn(workers=2) as port:

        def run(name: str, size: int) -> Callable[..., float]:
            who, path = targets(size)[name]
            sent = headers[size][who]

            def measure(requests: int = per_client) -> float:
                _rate, seconds = load(
                    port, lambda _c, _n: ("GET", path, None, sent), per_client=requests
                )
                latencies[name][size].extend(seconds)
                p95 = percentiles(seconds)["p95_ms"]
                print(f"  lists {name} {size}: p95 {p95:.0f} ms", file=sys.stderr, flush=True)
                return p95

            return measure

        result["followed_pages"] = {
            f"{who}-{size}": _follow(port, targets(size)[name][1], headers[size][who], 4)
            for size in sizes
            for name, who in (("api_first", "api"), ("admin_orders", "agent"))
        }
        runs = [run(name, size) for name in names for size in sizes]
        for measure in runs:  # warm both workers on every path
            measure(1)
        for name in names:
            for size in sizes:
                latencies[name][size].clear()
        samples = interleaved(ROUNDS, *runs)
    small, large = sizes
    for index, name in enumerate(names):
        p95_small, p95_large = samples[2 * index], samples[2 * index + 1]
        ratio = paired_ratio(p95_large, p95_small)
        result[name] = {
            **{f"{size}": percentiles(latencies[name][size]) for size in sizes},
            f"p95_{small}_ms": spread(p95_small),
            f"p95_{large}_ms": spread(p95_large),
            "p95_ratio_large_to_small": ratio,
            "meets_target": ratio["median"] <= TARGET,
        }
    result["rounds"] = ROUNDS
    result["seconds"] = time.perf_counter() - started
    return result
