"""Envelope keys: master key ring -> tenant keys -> subject keys.

- Master keys come from configuration (settings.BAOMI_MASTER_KEY_RING), never the database.
- Tenant keys (``TenantKey``) are stored wrapped by a master key version.
- Subject keys (``SubjectKey``, key store database) are stored wrapped by a tenant data key.
Nothing is derived from SECRET_KEY. ``AESGCM`` objects are built once per key and reused.
"""

from __future__ import annotations

import hashlib
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import IntegrityError, transaction

from core.lru import LRU
from privacy.crypto import field_binding, header_version, new_key, open_sealed, seal
from privacy.errors import DecryptionIntegrityError, KeyRetiredError, SubjectErasedError
from privacy.models import KeyPurpose, SubjectKey, TenantKey
from privacy.routers import KEYSTORE
from tenants.bulk import fetch_rows
from tenants.models import Tenant
from tenants.scoping import tenant_scope

_master_ciphers = LRU(16)
_tenant_keys = LRU(4096)
# Tenant key rows by (tenant, purpose, version or None for the newest), for a short while:
# intake and reveal would otherwise read the same row on every call. Safe to reuse: a
# row's raw key never changes (master rotation rewraps the same key); a newer data key is
# picked up within the TTL, and ``create_subject_key`` checks retirement after writing;
# a version is retired only after every subject key was rewrapped away from it.
TENANT_KEY_ROW_TTL = 30.0
_tenant_key_rows = LRU(4096, ttl=TENANT_KEY_ROW_TTL)


def clear_key_caches() -> None:
    """Forget every cached key and key row in this process (tests; after retiring keys):
    every ``core.lru.LRU``, so the training gate's kept decisions too (recomputed at once)."""
    for cache in LRU.instances:
        cache.clear()


# --- master keys -------------------------------------------------------------------------


def master_ring() -> dict[int, bytes]:
    return settings.BAOMI_MASTER_KEY_RING


def current_master_version() -> int:
    return max(master_ring())


def master_cipher(version: int) -> AESGCM:
    key = master_ring().get(version)
    if key is None:
        raise KeyRetiredError(f"master key version {version} is not in the configured ring")
    cache_key = (version, hashlib.sha256(key).digest())
    cipher = _master_ciphers.get(cache_key)
    if cipher is None:
        cipher = AESGCM(key)
        _master_ciphers.put(cache_key, cipher)
    return cipher  # type: ignore[return-value]


# --- tenant keys -------------------------------------------------------------------------


def tenant_key_binding(tenant_id: int, purpose: str, version: int) -> bytes:
    return f"baomi-tenant-key|{tenant_id}|{purpose}|{version}".encode()


def wrap_tenant_key(tenant_id: int, purpose: str, version: int, raw: bytes) -> tuple[int, bytes]:
    master_version = current_master_version()
    binding = tenant_key_binding(tenant_id, purpose, version)
    return master_version, seal(master_cipher(master_version), master_version, binding, raw)


def create_tenant_key(tenant: Tenant, purpose: str, version: int) -> TenantKey:
    master_version, wrapped = wrap_tenant_key(tenant.pk, purpose, version, new_key())
    key = TenantKey(
        tenant=tenant,
        purpose=purpose,
        version=version,
        master_version=master_version,
        wrapped_key=wrapped,
    )
    with tenant_scope(tenant):
        key.save()
    _tenant_key_rows.forget((tenant.pk, purpose, None))  # this process sees it at once
    return key


def ensure_tenant_keys(tenant: Tenant) -> None:
    """Create version 1 of the tenant's data and index keys if they do not exist yet."""
    with tenant_scope(tenant):
        existing = set(TenantKey.objects.values_list("purpose", flat=True))
        for purpose in KeyPurpose.values:
            if purpose in existing:
                continue
            try:
                with transaction.atomic():
                    create_tenant_key(tenant, purpose, 1)
            except IntegrityError:
                pass  # a concurrent request created it first


def unwrap_tenant_key(key: TenantKey, *, draining: bool = False) -> bytes:
    """The raw tenant key. A retired key opens nothing; ``draining`` lets the rotation
    rewrap stragglers between marking a version retired and erasing it."""
    if not key.wrapped_key or (key.retired_at is not None and not draining):
        raise KeyRetiredError(f"tenant key {key.purpose} v{key.version} is retired")
    wrapped = bytes(key.wrapped_key)
    cache_key = (key.tenant_id, key.purpose, key.version, hashlib.sha256(wrapped).digest())
    raw = _tenant_keys.get(cache_key)
    if raw is None:
        if header_version(wrapped, layer="tenant_key") != key.master_version:
            raise DecryptionIntegrityError("tenant_key", "master version does not match its row")
        binding = tenant_key_binding(key.tenant_id, key.purpose, key.version)
        raw = open_sealed(master_cipher(key.master_version), wrapped, binding, layer="tenant_key")
        _tenant_keys.put(cache_key, raw)
    return raw  # type: ignore[return-value]


_data_ciphers = LRU(4096)


def tenant_data_cipher(key: TenantKey, *, draining: bool = False) -> AESGCM:
    raw = unwrap_tenant_key(key, draining=draining)
    cache_key = hashlib.sha256(raw).digest()
    cipher = _data_ciphers.get(cache_key)
    if cipher is None:
        cipher = AESGCM(raw)
        _data_ciphers.put(cache_key, cipher)
    return cipher  # type: ignore[return-value]


def tenant_key(tenant: Tenant, purpose: str, version: int | None = None) -> TenantKey:
    """The tenant's key of ``purpose`` at ``version`` (default: the newest)."""
    cache_key = (tenant.pk, purpose, version)
    cached = _tenant_key_rows.get(cache_key)
    if cached is not None:
        return cached  # type: ignore[return-value]
    with tenant_scope(tenant):
        keys = TenantKey.objects.filter(purpose=purpose)
        key = (keys.filter(version=version) if version else keys.order_by("-version")).first()
        if key is None and version is None:
            ensure_tenant_keys(tenant)
            key = keys.order_by("-version").first()
    if key is None:
        raise KeyRetiredError(f"tenant {tenant.pk} has no {purpose} key v{version}")
    if key.retired_at is None:
        _tenant_key_rows.put(cache_key, key)
    return key


def tenant_index_key(tenant: Tenant) -> bytes:
    return unwrap_tenant_key(tenant_key(tenant, KeyPurpose.INDEX))


# --- subject keys ------------------------------------------------------------------------


def subject_key_binding(tenant_id: int, subject_id: UUID, tenant_key_version: int) -> bytes:
    return f"baomi-subject-key|{tenant_id}|{subject_id}|{tenant_key_version}".encode()


class SubjectCipher:
    """Seals and opens one subject's fields. Built once per operation (one unwrap)."""

    def __init__(self, tenant_id: int, subject_id: UUID, raw_key: bytes) -> None:
        self.tenant_id, self.subject_id = tenant_id, subject_id
        self._cipher = AESGCM(raw_key)

    def seal(self, table: str, field: str, row_pk: object, text: str) -> bytes:
        binding = field_binding(self.tenant_id, table, field, row_pk)
        return seal(self._cipher, 1, binding, text.encode("utf-8"))

    def open(self, table: str, field: str, row_pk: object, blob: bytes) -> str:
        binding = field_binding(self.tenant_id, table, field, row_pk)
        return open_sealed(self._cipher, bytes(blob), binding, layer="field").decode("utf-8")


def wrap_subject_key(tenant: Tenant, subject_id: UUID, raw: bytes, key: TenantKey) -> bytes:
    binding = subject_key_binding(tenant.pk, subject_id, key.version)
    return seal(tenant_data_cipher(key), key.version, binding, raw)


def create_subject_key(tenant: Tenant, subject_id: UUID) -> SubjectCipher:
    """Write a new subject key to the key store (committed before any row that needs it)."""
    new = write_subject_key(tenant, subject_id)  # one INSERT, committed by itself
    # A rotation may have retired this version between our read and our write. Retirement
    # marks the version first and erases it only after rewrapping stragglers, so either it
    # saw this row, or we see the mark here and rewrap under the newest version ourselves.
    with tenant_scope(tenant):
        retired = TenantKey.objects.filter(pk=new.tenant_key_id, retired_at__isnull=False).exists()
    if retired:
        new.rewrap()
    return new.cipher


def unwrap_subject_key(tenant: Tenant, row: SubjectKey, *, draining: bool = False) -> bytes:
    return _unwrap(tenant, row.id, row.tenant_key_version, row.wrapped_key, draining=draining)


def _unwrap(
    tenant: Tenant,
    subject_id: UUID,
    version: int,
    wrapped: bytes | memoryview,
    *,
    draining: bool = False,
) -> bytes:
    key = tenant_key(tenant, KeyPurpose.DATA, version)
    wrapped = bytes(wrapped)
    if header_version(wrapped, layer="subject_key") != version:
        raise DecryptionIntegrityError("subject_key", "tenant key version does not match its row")
    binding = subject_key_binding(tenant.pk, subject_id, version)
    return open_sealed(
        tenant_data_cipher(key, draining=draining), wrapped, binding, layer="subject_key"
    )


def subject_cipher(tenant: Tenant, subject_id: UUID) -> SubjectCipher:
    found = subject_ciphers(tenant, [subject_id])
    if subject_id not in found:
        raise SubjectErasedError(f"subject {subject_id} has no key: it was erased")
    return found[subject_id]


def subject_ciphers(tenant: Tenant, subject_ids: list[UUID]) -> dict[UUID, SubjectCipher]:
    """The opened keys of several subjects, read in one query (the blind index's
    candidates); erased subjects are missing from the result."""
    with tenant_scope(tenant):
        rows = fetch_rows(SubjectKey, ("id", "tenant_key_version", "wrapped_key"), id=subject_ids)
    return {
        pk: SubjectCipher(tenant.pk, pk, _unwrap(tenant, pk, version, wrapped))
        for pk, version, wrapped in rows
    }


def destroy_subject_key(tenant: Tenant, subject_id: UUID) -> bool:
    """Crypto-shred: delete the subject's key from the key store. True if one existed."""
    return destroy_subject_keys(tenant, [subject_id]) > 0


def destroy_subject_keys(tenant: Tenant, subject_ids: list[UUID]) -> int:
    """Crypto-shred many subjects at once (one statement, committed on its own). Returns
    the number of keys that existed."""
    with tenant_scope(tenant), transaction.atomic(using=KEYSTORE):
        deleted, _ = SubjectKey.objects.filter(pk__any=subject_ids).delete()
    return deleted


# --- intake: the retirement check inside intake's own write statement ------------------------


class NewSubjectKey:
    """A subject key written by ``write_subject_key``, whose retirement check the caller
    makes itself, after the write, in a statement of its own (intake's write reads
    ``TenantKey.retired_at`` of ``tenant_key_id``, and writes nothing when it is set): when
    the version was retired meanwhile, ``rewrap()`` does what ``create_subject_key`` does
    then, and ``tenant_key_id`` names the newest key for the next check. The raw key stays
    in this object's closure, in memory, as in a ``SubjectCipher``."""

    def __init__(self, tenant: Tenant, subject_id: UUID, raw: bytes, key: TenantKey) -> None:
        self.cipher = SubjectCipher(tenant.pk, subject_id, raw)
        self.tenant_key_id = key.pk

        def rewrap() -> None:
            _tenant_key_rows.forget((tenant.pk, KeyPurpose.DATA, None))  # it was stale
            newest = tenant_key(tenant, KeyPurpose.DATA)
            with tenant_scope(tenant), transaction.atomic(using=KEYSTORE):
                SubjectKey.objects.filter(pk=subject_id).update(
                    tenant_key_version=newest.version,
                    wrapped_key=wrap_subject_key(tenant, subject_id, raw, newest),
                )
            self.tenant_key_id = newest.pk

        self.rewrap = rewrap


def write_subject_key(tenant: Tenant, subject_id: UUID) -> NewSubjectKey:
    """``create_subject_key`` without its retirement check (one INSERT, committed): for
    intake, which checks in its write statement, after this has committed (the same order
    as ``create_subject_key``'s, so the same argument holds)."""
    key = tenant_key(tenant, KeyPurpose.DATA)
    raw = new_key()
    row = SubjectKey(
        id=subject_id,
        tenant_id=tenant.pk,
        tenant_key_version=key.version,
        wrapped_key=wrap_subject_key(tenant, subject_id, raw, key),
    )
    with tenant_scope(tenant):
        row.save(using=KEYSTORE, force_insert=True)
    return NewSubjectKey(tenant, subject_id, raw, key)
