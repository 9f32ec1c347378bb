"""The floors: the least a use case can cost on this host whatever its code, measured with
plaintext statements in the same rounds as the use case (issue 21: targets compared with
what no implementation under the same rules could beat).

- **Intake** cannot skip two round trips before its write: the phone's match on the main
  database, then the customer's key on the key store — read for a returning customer; for a
  new one a new key row inserted and committed on its own, before the order that uses it
  (docs/privacy.md: keys live apart from the data they open). ``intake_round_trips`` makes
  those two as plaintext statements: a primary-key read and, on the key store, a one-row
  read or a one-row INSERT into ``bench_floor_key`` (no decryption, no check, no chain).
- **Reveal**'s floor (a plaintext read, then a plaintext one-row write) is in
  ``bench/reveal.py``; **verification**'s (the same rows read with nothing hashed) in
  ``audits.verification.read_parallel``.
"""

from __future__ import annotations

from django.db import connections


def ensure_floor_tables() -> None:
    """The key store's plaintext stand-in for subject keys, with one row to read."""
    with connections["keystore"].cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_floor_key (id bigserial PRIMARY KEY, "
            "wrapped bytea NOT NULL)"
        )
        cursor.execute(
            "INSERT INTO bench_floor_key (wrapped) SELECT %s "
            "WHERE NOT EXISTS (SELECT 1 FROM bench_floor_key)",
            [bytes(60)],
        )


def intake_round_trips(*, new: bool) -> None:
    """The two round trips intake makes before its write, as plaintext statements."""
    from bench.models import PlainOrder

    PlainOrder._default_manager.only("phone").order_by("pk").first()  # the match: one indexed read
    with connections["keystore"].cursor() as cursor:
        if new:  # a new key, committed on its own (autocommit)
            cursor.execute("INSERT INTO bench_floor_key (wrapped) VALUES (%s)", [bytes(60)])
        else:
            cursor.execute("SELECT wrapped FROM bench_floor_key WHERE id = 1")  # the first row
            cursor.fetchone()
