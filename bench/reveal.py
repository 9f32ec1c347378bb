"""The reveal step: one customer-service reveal of a phone (``privacy.reveal.reveal``:
the rules, the training gate, the suspensions, the subject key from the key store, the
decryption and the audit event committed on its own) against reading the same field of a
plaintext row (``PlainOrder.objects.only("phone").get(pk=...)``).

The ratio is the median of per-round paired ratios with its interquartile range, over at
least ``bench.common.ROUNDS`` interleaved rounds. The training gate alone (as reveal asks
it) is measured in the same rounds, and its share of a reveal's time given per round; so is
a plaintext one-row write, which pays the commit's WAL flush that a reveal's audit event
pays and a read does not (on a busy disk that flush is most of a reveal), and the floor: a
plaintext read followed by a plaintext one-row write, the two round trips no reveal can
skip (the key store's read before the event is committed), without any of its work.
What one reveal sends to each store (statements on the main database and on the key
store, Redis commands) is counted once and printed with the figures.
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.common import PLAIN, ROUNDS, Fixture, interleaved, paired_ratio, spread, timed


def bench_reveal(fx: Fixture, quick: bool) -> dict[str, Any]:
    from bench.models import PlainOrder
    from privacy.permissions import Purpose
    from privacy.reveal import reveal
    from tenants.models import Role
    from tenants.scoping import tenant_scope
    from training.gates import kept_reveal_gate

    per_round = 50 if quick else 500
    agent = fx.users[Role.CUSTOMER_SERVICE]
    with tenant_scope(fx.tenant):
        order = fx.order
    plain = PlainOrder.objects.order_by("pk").first() or PlainOrder.objects.create(**PLAIN)
    assert order is not None

    def one_reveal() -> None:
        reveal(order, fields=["phone"], actor=agent, purpose=Purpose.CUSTOMER_SERVICE_CALL)

    def product() -> float:
        def run() -> None:
            with tenant_scope(fx.tenant):
                for _ in range(per_round):
                    one_reveal()

        return timed(per_round, run)

    def baseline() -> float:
        def run() -> None:
            for _ in range(per_round):
                PlainOrder.objects.only("phone").get(pk=plain.pk)

        return timed(per_round, run)

    def plain_write() -> float:
        # A plaintext row written (one UPDATE in autocommit): it pays the commit's WAL
        # flush that a reveal's audit event pays and the read does not — the host's floor.
        def run() -> None:
            for _ in range(per_round):
                PlainOrder.objects.filter(pk=plain.pk).update(note="")

        return timed(per_round, run)

    def floor() -> float:
        # The least any reveal can cost here, whatever its code: what it cannot skip is
        # one read (the subject's key, from the key store) and then one durable write (its
        # audit event, committed before a value is shown) — done here as a plaintext read
        # and a plaintext one-row write, with no decryption, no check and no chain.
        def run() -> None:
            for _ in range(per_round):
                PlainOrder.objects.only("phone").get(pk=plain.pk)
                PlainOrder.objects.filter(pk=plain.pk).update(note="")

        return timed(per_round, run)

    def gate() -> float:
        # The training gate alone, as reveal asks it (training.gates.kept_reveal_gate: a
        # kept decision, whose generation the reveal's own statement confirms).
        def run() -> None:
            with tenant_scope(fx.tenant):
                for _ in range(per_round):
                    kept_reveal_gate(agent)

        return timed(per_round, run)

    for run in (product, baseline, plain_write, gate, floor):  # warm every path
        run()
    with tenant_scope(fx.tenant):
        sent = round_trips(one_reveal)
    ours, base, writes, gates, floors = interleaved(
        ROUNDS, product, baseline, plain_write, gate, floor
    )
    shares = [r / g for r, g in zip(ours, gates, strict=True)]
    return {
        "reveals_per_s": spread(ours),
        "baseline_reads_per_s": spread(base),
        "ratio": paired_ratio(ours, base),
        # Against a plaintext one-row write, which pays the same commit (WAL flush).
        "plain_writes_per_s": spread(writes),
        "ratio_to_plain_write": paired_ratio(ours, writes),
        # The floor (a read, then a durable write) against the read: the most any reveal
        # could score on this host; and the reveal against that floor.
        "floor_per_s": spread(floors),
        "floor_ratio": paired_ratio(floors, base),
        "ratio_to_floor": paired_ratio(ours, floors),
        "gate_checks_per_s": statistics.median(gates),
        # The share of a reveal's time the training gate takes (paired per round).
        "gate_share_of_reveal": spread(shares),
        "per_reveal": sent,
        "per_round": per_round,
    }


def round_trips(body: Any) -> dict[str, Any]:
    """What one call of ``body`` sends: statements per database (``BEGIN``/``COMMIT``
    included, as Django logs them) and Redis commands."""
    from contextlib import ExitStack

    import redis.connection
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    sent = {"redis": 0}
    connection_class = redis.connection.AbstractConnection
    original = connection_class.send_packed_command

    def counting(self: Any, command: Any, check_health: bool = True) -> None:
        sent["redis"] += 1
        original(self, command, check_health)

    connection_class.send_packed_command = counting  # type: ignore[method-assign]
    try:
        with ExitStack() as stack:
            captured = {
                alias: stack.enter_context(CaptureQueriesContext(connections[alias]))
                for alias in ("default", "keystore")
            }
            body()
    finally:
        connection_class.send_packed_command = original  # type: ignore[method-assign]
    return {
        **{f"{alias}_statements": len(c.captured_queries) for alias, c in captured.items()},
        "redis_commands": sent["redis"],
        "statements": [q["sql"][:120] for c in captured.values() for q in c.captured_queries],
    }
