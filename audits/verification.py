from __future__ import annotations

from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connections, router, transaction

from audits.anchoring import AnchorReport, check_anchors
from audits.chain import CHAINED_FIELDS, GENESIS_HASH, ChainBreak, verify_rows
from audits.models import AuditChainHead, AuditEvent
from tenants.models import Tenant
from tenants.scoping import tenant_scope

BATCH = 20000


def verify_tenant_chain(tenant: Tenant) -> tuple[int, ChainBreak | None]:
    """Recompute ``tenant``'s chain in sequence order, streaming in batches."""
    with tenant_scope(tenant):
        head = AuditChainHead.objects.filter(tenant=tenant).values_list("sequence", "hash").first()
        expected = head if head is not None else (0, GENESIS_HASH)
        connection = connections[router.db_for_read(AuditEvent)]
        if connection.vendor == "postgresql":
            # A server-side cursor needs a transaction; the rows are closed (and the
            # read-ahead thread joined) before it ends, also when a break stops early.
            with (
                transaction.atomic(using=connection.alias),
                closing(_text_rows(connection, tenant)) as rows,
            ):
                return verify_rows(tenant.pk, rows, expected, as_text=True)
        rows = (
            AuditEvent.objects.order_by("sequence")
            .values_list("id", "hash", *CHAINED_FIELDS[1:])
            .iterator(chunk_size=BATCH)
        )
        return verify_rows(tenant.pk, rows, expected)


def _text_rows(connection: Any, tenant: Tenant) -> Generator[tuple[Any, ...], None, None]:
    """The tenant's events as the canonical form needs them, streamed by a server-side
    cursor: PostgreSQL writes the time in its canonical text (UTC, microseconds) and hands
    the JSON columns over as text, so no date-time or ORM conversion runs per row (the
    profile's largest cost). The ORM path above is the reference; tests run both."""
    meta = AuditEvent._meta
    quote = connection.ops.quote_name

    def column(name: str) -> str:
        return quote(meta.get_field(name).column)  # type: ignore[union-attr]

    canonical = {
        "occurred_at": (
            f"to_char({column('occurred_at')} AT TIME ZONE 'UTC', "
            '\'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"\')'
        ),
        "fields": f"{column('fields')}::text",
        "details": f"{column('details')}::text",
        "ip": f"host({column('ip')})",
    }
    selected = [canonical.get(name, column(name)) for name in ("id", "hash", *CHAINED_FIELDS[1:])]
    # Quoted identifiers and fixed expressions only; the tenant is a parameter.
    statement = (
        f"SELECT {', '.join(selected)} FROM {quote(meta.db_table)} "  # noqa: S608
        f"WHERE {column('tenant')} = %s ORDER BY {column('sequence')}"
    )
    connection.ensure_connection()
    with (
        connection.connection.cursor(name=f"verify_chain_{tenant.pk}") as cursor,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify-read-ahead") as ahead,
    ):
        cursor.execute(statement, [tenant.pk])
        # Read ahead: while this batch is hashed, a thread waits for the next one (the
        # wait releases the GIL), so the server's work overlaps ours instead of
        # alternating with it. Only that thread touches the cursor until it is closed.
        pending = ahead.submit(cursor.fetchmany, BATCH)
        try:
            while batch := pending.result():
                pending = ahead.submit(cursor.fetchmany, BATCH)
                yield from batch
        except GeneratorExit:
            # Closed early (a break was found): the fetch under way still ends before the
            # cursor closes, and if it failed, its error is raised, not dropped (it left
            # the transaction aborted, which would otherwise surface later, unexplained).
            if (error := pending.exception()) is not None:
                raise error from None
            raise


@dataclass(frozen=True)
class ChainReport:
    """A tenant's chain verified with its anchors (``verify_chain_with_anchors``)."""

    events: int
    chain_break: ChainBreak | None
    anchors: AnchorReport
    head_sequence: int

    @property
    def ok(self) -> bool:
        return self.chain_break is None and self.anchors.ok

    def first_problem(self) -> str:
        if self.chain_break is not None:
            return str(self.chain_break)
        return self.anchors.problems[0] if self.anchors.problems else ""


def verify_chain_with_anchors(tenant: Tenant) -> ChainReport:
    """``verify_tenant_chain``, then the anchors read from the sinks outside the database
    (``audits.anchoring.check_anchors``): a chain rewritten after the fact, hashes and head
    recomputed, verifies by itself but not against the anchors written before."""
    count, chain_break = verify_tenant_chain(tenant)
    with tenant_scope(tenant):
        head = AuditChainHead.objects.filter(tenant=tenant).values_list("sequence", flat=True)
        head_sequence = int(head.first() or 0)
    stale_after = timedelta(hours=settings.BAOMI_ANCHOR_STALE_HOURS)
    anchors = check_anchors(tenant, head_sequence=head_sequence, stale_after=stale_after)
    return ChainReport(count, chain_break, anchors, head_sequence)
