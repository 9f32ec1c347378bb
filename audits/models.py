from __future__ import annotations

import datetime

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.audit_registry import action_label
from tenants.models import TenantOwnedModel

GENESIS_HASH = "0" * 64


class AuditEvent(TenantOwnedModel):
    """One entry of a tenant's append-only, hash-chained event log.

    ``hash`` is SHA-256 over the event's canonical form, which includes ``prev_hash``, the
    hash of the tenant's previous event (``GENESIS_HASH`` for the first). Editing, deleting
    or reordering an event breaks the chain from there on (``verify_audit_chain``). On
    PostgreSQL triggers reject UPDATE, DELETE and TRUNCATE. Events hold ids and labels, never
    personal data.
    """

    sequence = models.PositiveBigIntegerField(_("sequence"))
    occurred_at = models.DateTimeField(_("time"))
    actor = models.CharField(_("actor"), max_length=64)  # "user:12", "system:retention"
    action = models.CharField(_("action"), max_length=64)
    object_type = models.CharField(_("object type"), max_length=64, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    fields = models.JSONField(_("fields"), default=list, blank=True)
    purpose = models.CharField(_("purpose"), max_length=64, blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    prev_hash = models.CharField(_("previous hash"), max_length=64)
    hash = models.CharField(_("hash"), max_length=64)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["tenant", "-sequence"]
        constraints = [
            # Two writers can never both append sequence N: the chain cannot fork.
            models.UniqueConstraint(fields=["tenant", "sequence"], name="audit_event_sequence"),
        ]
        indexes = [
            models.Index(fields=["tenant", "occurred_at"], name="audit_event_time"),
            models.Index(fields=["tenant", "object_type", "object_id"], name="audit_event_object"),
            models.Index(fields=["tenant", "action"], name="audit_event_action"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}#{self.sequence} {action_label(self.action)}"


class AuditChainHead(TenantOwnedModel):
    """The last event of each tenant's chain: appending locks this row, so concurrent writers
    take turns, and verification can tell that the newest events were not cut off."""

    sequence = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("audit chain head")
        verbose_name_plural = _("audit chain heads")
        constraints = [models.UniqueConstraint(fields=["tenant"], name="audit_chain_head_tenant")]

    def __str__(self) -> str:
        return f"{self.tenant_id}#{self.sequence}"


# --- Supervision settings (issue 20): shared by the access statistics and the alert rules ---


class SupervisionSettings(TenantOwnedModel):
    """A tenant's supervision thresholds: its staff's working hours (a reveal outside them
    is flagged) and the anomalous-access rules' limits. One row per tenant, created with
    the defaults on first use (``audits.hours.settings_for``)."""

    workday_start = models.TimeField(_("working hours start"), default=datetime.time(7, 0))
    workday_end = models.TimeField(_("working hours end"), default=datetime.time(23, 0))
    reveal_burst_count = models.PositiveIntegerField(
        _("reveals by one person that raise an alert"),
        default=50,
        validators=[MinValueValidator(2), MaxValueValidator(100_000)],
    )
    reveal_burst_minutes = models.PositiveIntegerField(
        _("within (minutes)"),
        default=60,
        validators=[MinValueValidator(1), MaxValueValidator(1440)],
    )
    denied_count = models.PositiveIntegerField(
        _("refused reveals or not-found probes that raise an alert"),
        default=5,
        validators=[MinValueValidator(2), MaxValueValidator(10_000)],
    )
    denied_minutes = models.PositiveIntegerField(
        _("within (minutes)"),
        default=15,
        validators=[MinValueValidator(1), MaxValueValidator(1440)],
    )
    paging_pages = models.PositiveIntegerField(
        _("list pages by one person that raise an alert"),
        default=40,
        validators=[MinValueValidator(2), MaxValueValidator(100_000)],
    )
    paging_minutes = models.PositiveIntegerField(
        _("within (minutes)"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(1440)],
    )

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("supervision settings")
        verbose_name_plural = _("supervision settings")
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="supervision_settings_tenant")
        ]

    def __str__(self) -> str:
        return str(self._meta.verbose_name)


# --- evidence (issue 20) ---


class EvidencePackState(models.TextChoices):
    # Labels of their own: the catalogue's "Ready" and "Failed" are an order's and a quiz's.
    QUEUED = "queued", _("Waiting to be built")
    RUNNING = "running", _("Being built")
    DONE = "done", _("Ready to download")
    FAILED = "failed", _("Could not be built")


class EvidencePack(TenantOwnedModel):
    """One evidence pack for a PIPL art. 54 audit (audits.evidence_packs): a period's
    signed archive, built in the background, section by section. ``path`` is relative to
    ``settings.EVIDENCE_PACK_DIR`` (``<tenant slug>/<file>``); set with ``size`` and
    ``sha256`` only once the archive is complete. ``failure`` is a readable reason, never
    personal data."""

    period_start = models.DateField(_("from"))
    period_end = models.DateField(_("to"))  # included
    requested_by = models.ForeignKey(
        "tenants.User",
        on_delete=models.PROTECT,
        db_index=False,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    language = models.CharField(_("language"), max_length=16, default="zh-hans")
    state = models.CharField(
        _("state"),
        max_length=16,
        choices=EvidencePackState.choices,
        default=EvidencePackState.QUEUED,
    )
    sections_done = models.PositiveIntegerField(_("sections done"), default=0)
    sections_total = models.PositiveIntegerField(_("sections"), default=0)
    failure = models.CharField(_("reason of the failure"), max_length=300, blank=True)
    path = models.CharField(_("archive"), max_length=255, blank=True)
    size = models.PositiveBigIntegerField(_("size"), null=True, blank=True)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("evidence pack")
        verbose_name_plural = _("evidence packs")
        ordering = ["-requested_at", "-pk"]
        constraints = [
            # A double submit makes one job: one pending pack per person and period.
            models.UniqueConstraint(
                fields=["tenant", "requested_by", "period_start", "period_end"],
                condition=models.Q(state__in=["queued", "running"]),
                name="evidence_pack_pending_once",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "requested_at"], name="evidence_pack_requested"),
        ]

    def __str__(self) -> str:
        return f"{self.period_start:%Y-%m-%d} – {self.period_end:%Y-%m-%d}"

    @property
    def percent(self) -> int:
        """Progress as a whole percentage (100 once done)."""
        if self.state == EvidencePackState.DONE:
            return 100
        if not self.sections_total:
            return 0
        return min(100, self.sections_done * 100 // self.sections_total)
