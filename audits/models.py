from __future__ import annotations

import datetime

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
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


# --- anchoring (issue 20) ---


class ChainAnchor(TenantOwnedModel):
    """A copy, for display, of an anchor of the tenant's chain head (``audits.anchoring``).
    The anchors that count are the ones in the sinks outside the database: verification
    never reads this table's sequences or hashes (whoever rewrites the log could rewrite
    them too). One per tenant and hour."""

    hour = models.DateTimeField(_("hour"))
    anchored_at = models.DateTimeField(_("anchored at"))
    sequence = models.PositiveBigIntegerField(_("sequence"))
    hash = models.CharField(_("hash"), max_length=64)
    mac = models.CharField(_("MAC"), max_length=64)
    prev = models.CharField(_("previous anchor's MAC"), max_length=64, blank=True)
    key_version = models.PositiveIntegerField(_("key version"))
    sinks_written = models.JSONField(_("written to"), default=list, blank=True)
    sinks_failed = models.JSONField(_("failed"), default=list, blank=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("chain anchor")
        verbose_name_plural = _("chain anchors")
        ordering = ["tenant", "-hour"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "hour"], name="chain_anchor_hour"),
        ]
        indexes = [models.Index(fields=["tenant", "anchored_at"], name="chain_anchor_time")]

    def __str__(self) -> str:
        return f"#{self.sequence}"


class ChainVerification(TenantOwnedModel):
    """One verification of a tenant's audit chain with its anchors (the nightly job)."""

    period = models.DateTimeField(_("period"))
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"))
    events_checked = models.PositiveBigIntegerField(_("events checked"))
    ok = models.BooleanField(_("intact"))
    first_break = models.TextField(_("first break"), blank=True)
    anchors_checked = models.PositiveIntegerField(_("anchors checked"))
    anchors_failed = models.PositiveIntegerField(_("anchors failed"))
    problems = models.JSONField(_("anchor problems"), default=list, blank=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("audit chain verification")
        verbose_name_plural = _("audit chain verifications")
        ordering = ["tenant", "-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "period"], name="chain_verification_period"),
        ]
        indexes = [
            models.Index(fields=["tenant", "started_at"], name="chain_verification_time"),
        ]

    def __str__(self) -> str:
        return timezone.localtime(self.started_at).strftime("%Y-%m-%d %H:%M")
