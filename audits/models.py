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


# --- access statistics (issue 20) ---


class AccessKind(models.TextChoices):
    """What an access event was, for the dashboard's statistics (audits.access_rollups)."""

    REVEAL = "reveal", _("Personal data revealed")
    REVEAL_DENIED = "reveal_denied", _("Reveal refused")
    REVEAL_FAILED = "reveal_failed", _("Reveal failed")
    SEARCH = "search", _("Search by phone")
    SEARCH_DENIED = "search_denied", _("Search by phone refused")


class AccessRollup(TenantOwnedModel):
    """The access events of one hour (UTC), counted per kind, purpose, actor and the roles
    the actor held when the events were rolled up: the dashboard's access statistics read
    these rows, never the log (docs/decisions/0014). ``records`` counts the records
    revealed (a list's reveal counts each of its records), ``events`` the log's rows.
    Maintained by ``audits.access_rollups.roll_up_access`` alone: each event is added once."""

    bucket = models.DateTimeField(_("hour"))
    kind = models.CharField(_("kind"), max_length=16, choices=AccessKind.choices)
    purpose = models.CharField(_("purpose"), max_length=64, blank=True)
    actor = models.CharField(_("actor"), max_length=64)  # "user:12", as in the log
    # The actor's roles, sorted and comma-separated ("" for none, a token or the system).
    roles = models.CharField(_("roles"), max_length=255, blank=True)
    records = models.PositiveBigIntegerField(_("records"), default=0)
    events = models.PositiveBigIntegerField(_("events"), default=0)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("access statistics row")
        verbose_name_plural = _("access statistics rows")
        constraints = [
            # The upsert's conflict target; it also serves the panels' reads by period,
            # from the index alone on PostgreSQL, where migration 0006 adds the counts to
            # it (INCLUDE: SQLite would drop such a constraint, which the demo's upsert needs).
            models.UniqueConstraint(
                fields=["tenant", "bucket", "kind", "purpose", "actor", "roles"],
                name="access_rollup_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.bucket:%Y-%m-%d %H:00} {self.kind} {self.records}"


class AccessRollupCursor(TenantOwnedModel):
    """How far a tenant's access statistics have read its log: every event up to
    ``sequence`` is counted in ``AccessRollup``, none after it. Locked by each roll-up
    batch, moved in the batch's transaction."""

    sequence = models.PositiveBigIntegerField(default=0)
    rolled_up_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("access statistics cursor")
        verbose_name_plural = _("access statistics cursors")
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="access_rollup_cursor_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}#{self.sequence}"
