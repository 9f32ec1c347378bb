"""The one mechanism behind audits' registries (dashboard panels, compliance indicators,
evidence-pack sections, checklist items): specs registered under ``"app.name"`` keys from
each app's ``AppConfig.ready()``. Registering the same spec again is harmless (a ready()
run twice); a different spec under a known key is a programming error."""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class KeyedRegistry(Generic[T]):
    def __init__(self, what: str) -> None:
        self.what = what  # "Panel", "Indicator": the messages' subject
        self._specs: dict[str, T] = {}

    def add(self, key: str, spec: T) -> T:
        if not key or key.count(".") != 1:
            raise ValueError(f"{self.what} key {key!r} must look like 'app.name'.")
        known = self._specs.get(key)
        if known is not None and known != spec:
            raise ValueError(f"{self.what} {key!r} is already registered differently.")
        self._specs[key] = spec
        return spec

    def remove(self, key: str) -> None:
        """Forget ``key`` (tests)."""
        self._specs.pop(key, None)

    def __getitem__(self, key: str) -> T:
        return self._specs[key]

    def values(self) -> list[T]:
        return list(self._specs.values())
