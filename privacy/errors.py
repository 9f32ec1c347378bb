from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.utils.html import format_html
from django.utils.translation import gettext as _


class VaultError(Exception):
    """Base of the privacy vault's errors. Messages hold ids and labels, never data."""


class DecryptionIntegrityError(VaultError):
    """A ciphertext or wrapped key failed authentication: tampered, copied from another
    row/field/tenant, or unwrapped with the wrong key. Nothing is returned."""

    def __init__(self, layer: str, detail: str) -> None:
        self.layer = layer  # "field", "subject_key", "tenant_key"
        super().__init__(f"integrity check failed ({layer}): {detail}")


class KeyRetiredError(VaultError):
    """The key needed is retired or no longer configured (rotation finished)."""


class SubjectErasedError(VaultError):
    """The data subject's key was destroyed: the data is gone for good."""


class MalformedCiphertextError(DecryptionIntegrityError):
    def __init__(self, layer: str, detail: str) -> None:
        super().__init__(layer, detail)


class RevealDenied(PermissionDenied):
    """The actor may not see these fields for this purpose."""


class RevealUntrained(RevealDenied):
    """The actor's training does not let them reveal (training.gates): no current pass of a
    course their role must take, or the staff pledge unsigned. ``gate_url`` is the page
    where they can meet it (shown as a link beside the message)."""

    def __init__(self, message: str, *, gate_url: str) -> None:
        self.gate_url = gate_url
        super().__init__(message)


class RevealSuspended(RevealDenied):
    """The actor is suspended (tenants.suspensions): from reveal, or a rider from dispatch.
    ``suspension_id`` is recorded with the refusal."""

    def __init__(self, message: str, *, suspension_id: int) -> None:
        self.suspension_id = suspension_id
        super().__init__(message)


def refusal_html(error: Exception) -> str:
    """A refusal's message for a page: a ``RevealUntrained``'s ends with a link to the
    training that lifts it (safe HTML; the message itself is escaped)."""
    if isinstance(error, RevealUntrained):
        return format_html(
            '{} <a href="{}" class="font-semibold underline">{}</a>',
            str(error),
            error.gate_url,
            _("Go to my training"),
        )
    return str(error)
