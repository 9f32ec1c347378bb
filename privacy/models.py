"""The vault's data. Personal data exists here only as ciphertext (``*_ct``) and as
display masks computed at write time (``*_masked``); subject keys live in the separate key
store database (see routers.py)."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from tenants.models import Tenant, TenantOwnedModel
from tenants.versioning import VersionedDocument


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
        indexes = [
            models.Index(fields=["tenant", "phone_bidx"], name="subject_phone_bidx"),
            # The customers still held: what the retention sweep walks.
            models.Index(
                fields=["tenant", "id"],
                condition=models.Q(erased_at__isnull=True),
                name="subject_live",
            ),
        ]

    def __str__(self) -> str:
        return str(self.id)


class PrivacyNotice(VersionedDocument):
    """What customers are told: purpose, scope, use and retention, in zh-Hans and English.

    Versions are immutable once published; a change is a new version
    (``tenants.versioning``)."""

    purpose_zh = models.TextField(_("purpose (Chinese)"))
    purpose_en = models.TextField(_("purpose (English)"))
    scope_zh = models.TextField(_("scope (Chinese)"))
    scope_en = models.TextField(_("scope (English)"))
    use_zh = models.TextField(_("use (Chinese)"))
    use_en = models.TextField(_("use (English)"))
    retention_days = models.PositiveSmallIntegerField(_("retention after completion (days)"))

    class Meta(VersionedDocument.Meta):
        verbose_name = _("privacy notice")
        verbose_name_plural = _("privacy notices")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "version"], name="privacy_notice_version"),
        ]

    def text_for(self, language: str) -> tuple[str, str]:
        """(language code shown, purpose, scope and use as one text) — Chinese unless the
        reader's language is English."""
        suffix, code = ("en", "en") if language.startswith("en") else ("zh", "zh-hans")
        parts = (getattr(self, f"{part}_{suffix}") for part in ("purpose", "scope", "use"))
        return code, "\n\n".join(parts)


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


class RetentionPolicy(TenantOwnedModel):
    """How long personal data stays after an order is finished (delivered, failed, cancelled)."""

    days = models.PositiveSmallIntegerField(_("days after completion"), default=7)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    updated_by = models.CharField(_("updated by"), max_length=64)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("retention policy")
        verbose_name_plural = _("retention policies")
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="retention_policy_tenant"),
            models.CheckConstraint(
                condition=models.Q(days__lte=365), name="retention_days_at_most_365"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.days}"


class ErasureReason(models.TextChoices):
    RETENTION = "retention", _("Retention period over")
    CUSTOMER_REQUEST = "customer_request", _("Customer's request (verified online)")
    STAFF_REQUEST = "staff_request", _("Customer's request (verified by staff)")
    ADMINISTRATOR = "administrator", _("Administrator")


class ErasureLedgerEntry(TenantOwnedModel):
    """Append-only record that a subject's personal data was erased. The subject id is a
    random UUID: once the key and ciphertext are gone it identifies nobody. Restores replay
    this ledger so an erased customer never comes back (docs/privacy.md)."""

    subject_id = models.UUIDField(_("subject"))
    reference = models.CharField(_("reference"), max_length=16)
    reason = models.CharField(_("reason"), max_length=24, choices=ErasureReason.choices)
    actor = models.CharField(_("erased by"), max_length=64)
    erased_at = models.DateTimeField(_("erased at"), auto_now_add=True)
    records = models.PositiveIntegerField(_("records cleared"), default=0)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("erasure ledger entry")
        verbose_name_plural = _("erasure ledger")
        ordering = ["tenant", "-erased_at"]
        constraints = [
            # Each subject is erased exactly once.
            models.UniqueConstraint(
                fields=["tenant", "subject_id"], name="erasure_once_per_subject"
            ),
            models.UniqueConstraint(fields=["tenant", "reference"], name="erasure_reference"),
        ]
        indexes = [models.Index(fields=["tenant", "erased_at"], name="erasure_time")]

    def __str__(self) -> str:
        return self.reference


class RequestChannel(models.TextChoices):
    WEB = "web", _("Online, verified with a one-time code")
    IN_PERSON = "in_person", _("In person, identity document checked")
    PHONE = "phone", _("By phone, verified on a relay call")


class RequestStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for verification")
    COMPLETED = "completed", _("Erased")
    REJECTED = "rejected", _("Not verified")


class ErasureRequest(TenantOwnedModel):
    """A customer's request to erase their data, its verification and its result; the
    statutory deadline is tracked from receipt."""

    channel = models.CharField(_("channel"), max_length=16, choices=RequestChannel.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=RequestStatus.choices, default=RequestStatus.PENDING
    )
    subject_id = models.UUIDField(_("subject"), null=True, blank=True)
    evidence = models.CharField(_("evidence"), max_length=200, blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    due_at = models.DateTimeField(_("answer due by"))
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    handled_by = models.CharField(_("handled by"), max_length=64, blank=True)
    ledger_entry = models.ForeignKey(
        ErasureLedgerEntry,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,
        related_name="+",
        verbose_name=_("ledger entry"),
    )

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("erasure request")
        verbose_name_plural = _("erasure requests")
        ordering = ["tenant", "-received_at"]
        indexes = [
            models.Index(fields=["tenant", "status", "due_at"], name="erasure_request_due"),
            models.Index(fields=["tenant", "ledger_entry"], name="erasure_request_ledger"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.get_channel_display()} {self.received_at:%Y-%m-%d}"
            if self.received_at
            else str(self.pk)
        )


class ErasureChallenge(models.Model):
    """One online erasure request before verification. Not tenant-owned yet: the tenant is
    unknown until the order code and phone are matched, which a task does (so the page
    answers the same, as fast, whether or not they match). Holds the order code (printed on
    packages, not personal), a keyed hash of the phone, and a keyed hash of the one-time
    code once sent."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order_code = models.CharField(max_length=16)
    phone_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    subject_id = models.UUIDField(null=True, blank=True)
    otp_hash = models.CharField(max_length=64, blank=True)
    otp_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    request = models.ForeignKey(
        "ErasureRequest",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_index=False,
        related_name="+",
    )

    class Meta:
        verbose_name = _("erasure challenge")
        verbose_name_plural = _("erasure challenges")
        indexes = [models.Index(fields=["created_at"], name="erasure_challenge_time")]

    def __str__(self) -> str:
        return str(self.id)
