"""Logging filters named in settings.LOGGING."""

from __future__ import annotations

import logging


class OneLineClientErrors(logging.Filter):
    """A refused or unknown request (4xx) is logged as one line, without a traceback.

    Django logs a ``PermissionDenied``, an ``Http404`` and a ``SuspiciousOperation`` with
    the exception attached (``exc_info``), so every 403 and 404 printed a full traceback:
    noise that hides real failures, for answers that are the application working as
    designed. The status and the path remain. Server errors (5xx, or records without a
    status) keep their traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
        return True
