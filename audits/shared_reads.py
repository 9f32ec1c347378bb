"""Reads shared by the panels and indicators of one dashboard page (issue 20).

Several panels and compliance indicators ask the same question of the same tenant — the
training coverage, the pending erasure requests, the overdue incident reports. While the
dashboard renders one page it opens ``shared_reads()``; inside it, ``shared(key, compute)``
computes each key once and hands the same answer to every later asker. Outside it (a test,
another page) ``shared`` simply computes. Nothing outlives the page: no stale figure, no
cache to invalidate::

    coverage = shared(("training.coverage", tenant.pk, language), lambda: coverage_of(...))
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

_memo: ContextVar[dict[Hashable, Any] | None] = ContextVar("audits_shared_reads", default=None)


@contextmanager
def shared_reads() -> Iterator[None]:
    """The span of one page's rendering: ``shared`` answers each key once within it."""
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def shared(key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, once per ``key`` within ``shared_reads()``; always without it."""
    memo = _memo.get()
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]  # type: ignore[no-any-return,unused-ignore]
