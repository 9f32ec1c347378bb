"""A small bounded cache in process memory (never Redis): least recently used entries are
forgotten first. The vault keeps its opened keys and key rows in them (privacy.keys), the
training gate its open decisions (training.gates). ``LRU.instances`` lists every one made,
so that tests and a key retirement can empty them all (``privacy.keys.clear_key_caches``).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from threading import Lock


class LRU:
    """A bounded cache of ``size`` entries. With ``ttl`` (seconds), an entry is forgotten
    that long after it was stored."""

    instances: list[LRU] = []

    def __init__(self, size: int, ttl: float | None = None) -> None:
        self.size, self.ttl = size, ttl
        self.items, self.lock = OrderedDict[object, tuple[float, object]](), Lock()
        LRU.instances.append(self)

    def get(self, key: object) -> object | None:
        with self.lock:
            entry = self.items.get(key)
            if entry is None:
                return None
            if self.ttl is not None and time.monotonic() - entry[0] > self.ttl:
                del self.items[key]
                return None
            self.items.move_to_end(key)
            return entry[1]

    def put(self, key: object, value: object) -> None:
        with self.lock:
            self.items[key] = (time.monotonic(), value)
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def forget(self, key: object) -> None:
        with self.lock:
            self.items.pop(key, None)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
