"""The vault's data. Personal data exists here only as ciphertext (``*_ct``) and as
display masks computed at write time (``*_masked``); subject keys live in the separate key
store database (see routers.py)."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from tenants.models import Tenant, TenantOwnedModel


class KeyPurpose(models.TextChoices):
    DATA = "data", _("wraps subject keys")
    INDEX = "index", _("blind index")


class TenantKey(TenantOwnedModel):
    """A tenant's key-encryption key (``data``) or blind-index key (``index``), stored only
    wrapped by a master key version. Retiring a version erases its wrapped key."""

    purpose = models.CharField(_("purpose"), max_length=8, choices=KeyPurpose.choices)
    version = models.PositiveIntegerField(_("version"))
    master_version = models.PositiveIntegerField(_("master key version"))
    wrapped_key = models.BinaryField(_("wrapped key"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    retired_at = models.DateTimeField(_("retired at"), null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("tenant key")
        verbose_name_plural = _("tenant keys")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "purpose", "version"], name="tenant_key_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}:{self.purpose}:v{self.version}"


class SubjectKey(TenantOwnedModel):
    """One data subject's data key, wrapped by the tenant's data key.

    Lives in the key store database (``keystore`` alias), never in the main database or its
    backups: destroying this row makes the subject's ciphertext unreadable everywhere,
    restored backups included (crypto-shredding). No foreign-key constraint can cross
    databases, so ``tenant`` is a plain column there.
    """

    id = models.UUIDField(primary_key=True)  # the DataSubject's id
    tenant = models.ForeignKey(
        Tenant, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    tenant_key_version = models.PositiveIntegerField()
    wrapped_key = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("subject key")
        verbose_name_plural = _("subject keys")
        indexes = [
            models.Index(fields=["tenant", "tenant_key_version"], name="subject_key_version"),
            models.Index(fields=["tenant", "created_at"], name="subject_key_created"),
        ]

    def __str__(self) -> str:
        return str(self.id)


class DataSubject(TenantOwnedModel):
    """One customer of one tenant: the unit of encryption and of erasure.

    Name, phone, address and note are ciphertext under the subject's own key; the masks
    are what lists show. ``phone_bidx`` is a truncated keyed hash of the normalised phone
    for exact-match search (privacy/blind_index.py).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    phone_bidx = models.PositiveIntegerField(_("phone blind index"))
    name_ct = models.BinaryField()
    phone_ct = models.BinaryField()
    address_ct = models.BinaryField()
    note_ct = models.BinaryField()
    name_masked = models.CharField(_("name"), max_length=40)
    phone_masked = models.CharField(_("phone"), max_length=24)
    address_masked = models.CharField(_("address"), max_length=120)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    erased_at = models.DateTimeField(_("erased at"), null=True, blank=True)

    ENCRYPTED_FIELDS = ("name", "phone", "address", "note")

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("data subject")
        verbose_name_plural = _("data subjects")
        indexes = [models.Index(fields=["tenant", "phone_bidx"], name="subject_phone_bidx")]

    def __str__(self) -> str:
        return str(self.id)


class PrivacyNotice(TenantOwnedModel):
    """What customers are told: purpose, scope, use and retention, in zh-Hans and English.

    Versions are immutable once published; a change is a new version."""

    version = models.PositiveIntegerField(_("version"))
    purpose_zh = models.TextField(_("purpose (Chinese)"))
    purpose_en = models.TextField(_("purpose (English)"))
    scope_zh = models.TextField(_("scope (Chinese)"))
    scope_en = models.TextField(_("scope (English)"))
    use_zh = models.TextField(_("use (Chinese)"))
    use_en = models.TextField(_("use (English)"))
    retention_days = models.PositiveSmallIntegerField(_("retention after completion (days)"))
    published_at = models.DateTimeField(_("published at"), auto_now_add=True)
    published_by = models.CharField(_("published by"), max_length=64)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("privacy notice")
        verbose_name_plural = _("privacy notices")
        ordering = ["tenant", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "version"], name="privacy_notice_version"),
        ]

    def __str__(self) -> str:
        return f"v{self.version}"


class NoticeChannel(models.TextChoices):
    PHONE = "phone", _("Read out on the phone")
    BACK_OFFICE = "back_office", _("Shown at the counter / back office")
    API = "api", _("Partner system")
    WEB = "web", _("Web page")


class NoticeRecord(TenantOwnedModel):
    """That a customer was shown a notice version, when and through which channel. Each
    order points to its record (orders depend on privacy, not the other way round)."""

    notice = models.ForeignKey(
        PrivacyNotice, on_delete=models.PROTECT, db_index=False, verbose_name=_("notice")
    )
    subject = models.ForeignKey(
        DataSubject, on_delete=models.SET_NULL, null=True, db_index=False, related_name="+"
    )
    channel = models.CharField(_("channel"), max_length=16, choices=NoticeChannel.choices)
    shown_at = models.DateTimeField(_("shown at"))
    recorded_by = models.CharField(_("recorded by"), max_length=64)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("notice record")
        verbose_name_plural = _("notice records")
        indexes = [
            models.Index(fields=["tenant", "notice"], name="notice_record_notice"),
            models.Index(fields=["tenant", "subject"], name="notice_record_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.notice_id}@{self.shown_at:%Y-%m-%d}"
