"""The bench's ``dashboard`` step (issue 20): the supervisor dashboard for a 30-day period
in a tenant of 1M orders and 10M audit events.

The tenant is seeded in SQL (``generate_series``: seconds per million rows, no Python
loop): orders spread over 90 days, and audit events of a plausible mix — reveals (by
purpose and actor), refused reveals, batch reveals, intake, transitions, assignments,
sign-in failures — by the tenant's staff over the same 90 days. **The events' hashes are
fake** (``md5`` text, not the chain's SHA-256 over the canonical form): this step measures
reads, and the chain is never verified here (the ``audit_chain`` step times verification
over real hashes). Every ten events name one order id, in increasing order, so the
object index grows at its end as a real log's does. The chain head is moved past the seeded events so that the page's own
``dashboard.viewed`` event appends after them.

Then the page ``/supervisor/?period=30d`` is fetched as a supervisor through Django's test
client: one warm-up, then ``rounds`` (at least 7) timed requests; the median and the
interquartile range in milliseconds, and the number of queries of one request.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext


def _roll_up(tenant: Any) -> Any:
    """The reveal statistics' roll-up over the seeded events (what the beat job does each
    minute), run before the dashboard is measured; its seconds are ``rollup_seconds``."""
    from audits.access_rollups import roll_up_access
    from tenants.scoping import tenant_scope

    with tenant_scope(tenant):
        return roll_up_access(tenant)


ROLLUP_HOOK: Callable[[Any], Any] | None = _roll_up

#: The kinds of events seeded, with their weight (per 100) and whether they carry a
#: purpose and a field: the codes are registered actions, so the pages label them.
EVENT_MIX: tuple[tuple[str, int, bool], ...] = (
    ("privacy.reveal", 38, True),
    ("privacy.reveal_batch", 10, True),
    ("privacy.reveal_denied", 2, True),
    ("order.created", 20, False),
    ("order.transition", 22, False),
    ("riders.order_assigned", 6, False),
    ("auth.login_failed", 2, False),
)
PURPOSES = (
    "customer_service_call",
    "delivery",
    "food_preparation",
    "packing",
    "incident_investigation",
)
DAYS = 90
STAFF = 40


def _sql_array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _tenant() -> tuple[Any, Any]:
    """A fresh tenant with a notice, one real order (its customer and notice record are
    shared by the seeded orders), a supervisor and ``STAFF`` staff members."""
    from orders.intake import create_order
    from privacy.notices import publish_notice
    from tenants.actors import SystemActor
    from tenants.models import Role
    from tenants.services import create_staff_user, create_tenant

    system = SystemActor("bench")
    slug = f"dash-{uuid.uuid4().hex[:8]}"
    tenant = create_tenant(slug=slug, name="Dashboard bench", actor=system)
    publish_notice(
        tenant=tenant,
        actor=system,
        retention_days=7,
        purpose_zh="配送",
        purpose_en="Delivery",
        scope_zh="姓名电话地址",
        scope_en="Name, phone, address",
        use_zh="仅配送",
        use_en="Delivery only",
    )
    roles = [Role.CUSTOMER_SERVICE, Role.DISPATCHER, Role.KITCHEN, Role.PACKER, Role.RIDER]
    staff = [
        create_staff_user(
            tenant=tenant,
            username=f"{slug}-staff-{n}",
            password="bench-pass-2026!",
            roles=[roles[n % len(roles)]],
            actor=system,
        )
        for n in range(STAFF)
    ]
    supervisor = create_staff_user(
        tenant=tenant,
        username=f"{slug}-supervisor",
        password="bench-pass-2026!",
        roles=[Role.SUPERVISOR],
        actor=system,
    )
    create_order(
        tenant=tenant,
        actor=staff[0],
        privacy_notice_version=1,
        customer={"name": "张三丰", "phone": "13812345678", "address": "上海市浦东新区张江路88号"},
        items=[{"name": "宫保鸡丁", "quantity": 1}],
        note="",
        channel="phone",
    )
    return tenant, supervisor


def seed_orders(tenant: Any, count: int) -> float:
    """``count`` orders over the last ``DAYS`` days in one statement; its seconds."""
    from orders.models import Order
    from privacy.models import NoticeRecord
    from tenants.scoping import tenant_scope

    with tenant_scope(tenant):
        template = Order.objects.order_by("created_at").first()
        record = NoticeRecord.objects.order_by("pk").first()
    assert template is not None and record is not None  # noqa: S101
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Order._meta.db_table} (
                id, tenant_id, code, status, subject_id, notice_record_id, name_ct, phone_ct,
                address_ct, note_ct, items_ct, recipient_masked, phone_masked, address_masked,
                district, item_count, seal_number, pin_hash, pin_attempts, created_at,
                status_changed_at)
            SELECT gen_random_uuid(), %(tenant)s, 'B' || lpad(g::text, 12, '0'),
                (ARRAY['delivered','delivered','delivered','cancelled','received','preparing',
                       'packed','assigned'])[1 + g %% 8],
                %(subject)s, %(record)s, '\\x78'::bytea, '\\x78'::bytea, '\\x78'::bytea,
                '\\x78'::bytea, '\\x78'::bytea, '张*', '138****5678', '上海市浦东新区****',
                '上海市浦东新区', 1 + g %% 4, '', repeat('0', 64), 0,
                now() - (g %% %(days)s) * interval '1 day' - (g %% 86400) * interval '1 second',
                now() - (g %% %(days)s) * interval '1 day'
            FROM generate_series(1, %(count)s) AS g
            """,  # noqa: S608 - table name from the model, values as parameters
            {
                "tenant": tenant.pk,
                "subject": template.subject_id,
                "record": record.pk,
                "days": DAYS,
                "count": count,
            },
        )
        cursor.execute(f"ANALYZE {Order._meta.db_table}")  # noqa: S608
    return time.perf_counter() - start


def seed_events(tenant: Any, count: int, actors: list[str]) -> float:
    """``count`` audit events of ``EVENT_MIX`` by ``actors`` over the last ``DAYS`` days,
    appended after the tenant's chain head in one statement (fake hashes: see the module's
    docstring); the head moved past them. Its seconds."""
    from audits.models import AuditChainHead, AuditEvent
    from tenants.scoping import tenant_scope

    with tenant_scope(tenant):
        head = AuditChainHead.objects.get(tenant=tenant, stripe=0)
    codes, purposed, cases, total = [], [], [], 0
    for kind, (code, weight, with_purpose) in enumerate(EVENT_MIX, start=1):
        total += weight
        codes.append(code)
        purposed.append("t" if with_purpose else "f")
        cases.append(f"WHEN (n * 7919) %% 100 < {total} THEN {kind}")
    kinds = " ".join(cases)
    table = AuditEvent._meta.db_table
    start = time.perf_counter()
    with connection.cursor() as cursor, _indexes_rebuilt(cursor, table):
        cursor.execute(
            f"""
            INSERT INTO {AuditEvent._meta.db_table} (
                tenant_id, stripe, sequence, occurred_at, actor, action, object_type,
                object_id, fields, purpose, request_id, ip, details, prev_hash, hash)
            SELECT %(tenant)s, 0, %(first)s + n,
                now() - (%(count)s - n) * (%(days)s * interval '1 day') / %(count)s,
                ({_sql_array(actors)})[1 + ((n * 31) %% {len(actors)})::int],
                ({_sql_array(codes)})[kind],
                'orders.order', lpad(to_hex(n / 10), 32, '0')::uuid::text,
                CASE WHEN ({_sql_array(purposed)})[kind] = 't' THEN '["phone"]'::jsonb
                     ELSE '[]'::jsonb END,
                CASE WHEN ({_sql_array(purposed)})[kind] = 't'
                     THEN ({_sql_array(list(PURPOSES))})[1 + ((n * 13) %% {len(PURPOSES)})::int]
                     ELSE '' END,
                h, NULL, '{{}}'::jsonb, repeat('0', 64), h || h
            FROM (
                SELECT n, CASE {kinds} END AS kind, md5(n::text) AS h
                FROM generate_series(1::bigint, %(count)s) AS n
            ) AS k
            """,  # noqa: S608 - table name from the model; codes from EVENT_MIX
            {"tenant": tenant.pk, "first": head.sequence, "count": count, "days": DAYS},
        )
        last = head.sequence + count
        cursor.execute(
            f"UPDATE {AuditChainHead._meta.db_table} SET sequence = %s, hash = %s "  # noqa: S608
            "WHERE tenant_id = %s AND stripe = 0",
            [last, "f" * 64, tenant.pk],
        )
        cursor.execute(f"ANALYZE {AuditEvent._meta.db_table}")  # noqa: S608
    return time.perf_counter() - start


@contextmanager
def _indexes_rebuilt(cursor: Any, table: str) -> Iterator[None]:
    """Drop ``table``'s secondary indexes (not those of its constraints) for a bulk load and
    build them again afterwards: one sorted build is several times faster than ten million
    inserts into each. Whatever indexes the table has (another issue may add some)."""
    cursor.execute(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.tablename = %s AND NOT EXISTS (
            SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
        """,
        [table],
    )
    indexes = cursor.fetchall()
    for name, _definition in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    try:
        yield
    finally:
        for _name, definition in indexes:
            cursor.execute(definition)


def _logged_in(user: Any) -> Client:
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tenants.two_factor import needs_two_factor

    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    if needs_two_factor(user):
        device = TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


def bench_dashboard(*, orders: int, events: int, rounds: int = 7) -> dict[str, Any]:
    tenant, supervisor = _tenant()
    actors = [f"user:{pk}" for pk in _staff_ids(tenant)]
    orders_s = seed_orders(tenant, orders)
    events_s = seed_events(tenant, events, actors)
    result: dict[str, Any] = {
        "orders": orders,
        "events": events,
        "seed_orders_seconds": orders_s,
        "seed_events_seconds": events_s,
        "hashes": "fake (md5 text): not a verifiable chain",
    }
    if ROLLUP_HOOK is not None:  # the reveal statistics' roll-up, see above
        start = time.perf_counter()
        ROLLUP_HOOK(tenant)
        result["rollup_seconds"] = time.perf_counter() - start
    client = _logged_in(supervisor)
    url = "/supervisor/?period=30d"
    response = client.get(url)  # warm up: session, caches, prepared plans
    assert response.status_code == 200, response.status_code  # noqa: S101
    times = []
    for _ in range(max(rounds, 7)):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200  # noqa: S101
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    quartiles = statistics.quantiles(times, n=4)
    result.update(
        {
            "period": "30d",
            "rounds": len(times),
            "median_ms": statistics.median(times),
            "iqr_ms": quartiles[2] - quartiles[0],
            "samples_ms": times,
            "queries": len(queries),
            "slowest_queries_ms": sorted(
                (float(q["time"]) * 1000 for q in queries.captured_queries), reverse=True
            )[:5],
        }
    )
    return result


def _staff_ids(tenant: Any) -> list[int]:
    from tenants.models import User

    return list(
        User.objects.filter(tenant=tenant)
        .exclude(username__endswith="-supervisor")
        .values_list("pk", flat=True)
    )
