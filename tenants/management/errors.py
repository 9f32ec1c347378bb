from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import CommandError


def command_error(error: ValidationError | PermissionDenied) -> CommandError:
    """A CommandError whose message names each invalid field, for operators' scripts."""
    if isinstance(error, ValidationError) and hasattr(error, "error_dict"):
        parts = [
            f"{field}: {' '.join(str(m) for m in messages)}"
            for field, messages in error.message_dict.items()
        ]
        return CommandError("; ".join(parts))
    if isinstance(error, ValidationError):
        return CommandError(" ".join(str(m) for m in error.messages))
    return CommandError(str(error))
