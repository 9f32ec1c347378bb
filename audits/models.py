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


# --- alerts (issue 20) ---


class AlertState(models.TextChoices):
    OPEN = "open", _("Open")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    DISMISSED = "dismissed", _("Dismissed")
    PROMOTED = "promoted", _("Promoted to an incident case")


#: The states in which an alert still gathers the events of new firings of its rule.
LIVE_ALERT_STATES = (AlertState.OPEN, AlertState.ACKNOWLEDGED)
ALERT_REASON_MAX_LENGTH = 500


class AccessAlert(TenantOwnedModel):
    """An anomalous-access alert (audits.alert_rules): a rule fired for one person — a user,
    or an integration token for the token rules. ``person`` is the actor label of the audit
    log (``user:7``, ``token:3``); while an alert is open or acknowledged, new firings of its
    rule for that person add their events to it instead of opening another one (a unique
    constraint holds this even when two evaluations run at once)."""

    rule = models.CharField(_("rule"), max_length=48)
    person = models.CharField(_("person"), max_length=64)
    user = models.ForeignKey(
        "tenants.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,
        related_name="+",
        verbose_name=_("user"),
    )
    token = models.ForeignKey(
        "tenants.IntegrationToken",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,
        related_name="+",
        verbose_name=_("integration token"),
    )
    state = models.CharField(
        _("state"), max_length=16, choices=AlertState.choices, default=AlertState.OPEN
    )
    first_seen_at = models.DateTimeField(_("first seen"))
    last_seen_at = models.DateTimeField(_("last seen"))
    event_count = models.PositiveIntegerField(_("events"), default=0)
    opened_at = models.DateTimeField(_("opened at"), auto_now_add=True)
    acknowledged_by = models.ForeignKey(
        "tenants.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,
        related_name="+",
        verbose_name=_("acknowledged by"),
    )
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        "tenants.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,
        related_name="+",
        verbose_name=_("dismissed or promoted by"),
    )
    closed_at = models.DateTimeField(_("dismissed or promoted at"), null=True, blank=True)
    dismiss_reason = models.CharField(
        _("reason for dismissing"), max_length=ALERT_REASON_MAX_LENGTH, blank=True
    )
    # The incident case it was promoted to: incidents sits above audits, so its id and code
    # are kept as plain values (the case links back to the alert).
    case_id = models.PositiveBigIntegerField(_("incident case id"), null=True, blank=True)
    case_code = models.CharField(_("incident case"), max_length=20, blank=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["-last_seen_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "rule", "person"],
                condition=models.Q(state__in=["open", "acknowledged"]),
                name="access_alert_one_live",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "state", "last_seen_at"], name="access_alert_state"),
            models.Index(fields=["tenant", "rule", "state"], name="access_alert_rule"),
            models.Index(fields=["tenant", "user"], name="access_alert_user"),
            models.Index(fields=["tenant", "token"], name="access_alert_token"),
        ]

    def __str__(self) -> str:
        return f"{self.rule} #{self.pk}"


class AccessAlertEvent(TenantOwnedModel):
    """An audit event that made an alert fire (each once per alert)."""

    alert = models.ForeignKey(
        AccessAlert, on_delete=models.CASCADE, db_index=False, related_name="links"
    )
    # No database constraint: the log is append-only (never deleted), and a foreign key onto
    # it would change how the database refuses a TRUNCATE of it (tests/audits/test_append_only).
    event = models.ForeignKey(
        AuditEvent,
        on_delete=models.DO_NOTHING,
        db_index=False,
        db_constraint=False,
        related_name="+",
    )

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("alert event")
        verbose_name_plural = _("alert events")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "alert", "event"], name="access_alert_event"),
        ]
        indexes = [models.Index(fields=["tenant", "event"], name="access_alert_event_event")]


class AlertWatermark(TenantOwnedModel):
    """How far a tenant's log has been evaluated by the alert rules: the last sequence
    read. Its row lock makes two evaluations of a tenant take turns."""

    sequence = models.PositiveBigIntegerField(default=0)
    evaluated_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("alert watermark")
        verbose_name_plural = _("alert watermarks")
        constraints = [models.UniqueConstraint(fields=["tenant"], name="alert_watermark_tenant")]


class TokenNetwork(TenantOwnedModel):
    """A network (/24 for IPv4, /48 for IPv6) an integration token was used from: a use
    from a network not listed after the first raises an alert."""

    token = models.ForeignKey(
        "tenants.IntegrationToken", on_delete=models.CASCADE, db_index=False, related_name="+"
    )
    network = models.CharField(_("network"), max_length=64)
    first_seen_at = models.DateTimeField(_("first seen"), auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("integration token network")
        verbose_name_plural = _("integration token networks")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "token", "network"], name="token_network_once"
            ),
        ]
