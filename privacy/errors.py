from __future__ import annotations

from django.core.exceptions import PermissionDenied


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


class RevealSuspended(RevealDenied):
    """The actor is suspended (tenants.suspensions): from reveal, or a rider from dispatch.
    ``suspension_id`` is recorded with the refusal."""

    def __init__(self, message: str, *, suspension_id: int) -> None:
        self.suspension_id = suspension_id
        super().__init__(message)
