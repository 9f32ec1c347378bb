from __future__ import annotations

from typing import Any


class Conflict(Exception):
    """The request is valid but the object's state does not allow it (HTTP 409): an illegal
    transition, a rider who is not eligible. ``extra`` adds machine-readable detail."""

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra
