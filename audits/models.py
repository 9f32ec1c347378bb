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


# --- inspections (issue 20) ---
# Planned inspections of §6.1.1–6.1.2: a checklist generated from the policy's clauses
# (audits.checklists, filled by each app), findings per item with evidence files, and a
# follow-up for each failure. Services: audits/inspections/; back office:
# audits/inspections_admin.py.

INSPECTION_TITLE_MAX_LENGTH = 200
INSPECTION_NOTE_MAX_LENGTH = 2000
CHECKLIST_TEXT_MAX_LENGTH = 300


class InspectionScope(models.TextChoices):
    FULL = "full", _("Full inspection")
    INTAKE = "intake", _("Intake and customer service")
    KITCHEN = "kitchen", _("Kitchen")
    PACKING = "packing", _("Packing")
    DISPATCH = "dispatch", _("Dispatch and riders")
    RECORDS = "records", _("Data and records")


class InspectionState(models.TextChoices):
    PLANNED = "planned", _("Planned")
    IN_PROGRESS = "in_progress", _("In progress")
    COMPLETED = "completed", _("Completed")


class Recurrence(models.TextChoices):
    NONE = "", _("Once")
    MONTHLY = "monthly", _("Monthly")
    QUARTERLY = "quarterly", _("Quarterly")
    YEARLY = "yearly", _("Yearly")


class FindingResult(models.TextChoices):
    PASS = "pass", _("Pass")
    FAIL = "fail", _("Fail")
    NOT_APPLICABLE = "not_applicable", _("Not applicable")


class FollowUpState(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")


class Inspection(TenantOwnedModel):
    """A planned inspection: scope, date, inspector, state planned → in progress →
    completed. A recurring one names its next date; the daily job plans that occurrence
    (``recurs_from`` points back, unique: one successor per inspection)."""

    title = models.CharField(_("title"), max_length=INSPECTION_TITLE_MAX_LENGTH)
    scope = models.CharField(_("scope"), max_length=16, choices=InspectionScope.choices)
    planned_for = models.DateField(_("planned date"))
    inspector = models.ForeignKey(
        "tenants.User",
        on_delete=models.PROTECT,
        db_index=False,
        related_name="+",
        verbose_name=_("inspector"),
    )
    state = models.CharField(
        _("state"),
        max_length=16,
        choices=InspectionState.choices,
        default=InspectionState.PLANNED,
    )
    recurrence = models.CharField(
        _("recurrence"), max_length=16, choices=Recurrence.choices, default="", blank=True
    )
    next_date = models.DateField(_("next occurrence"), null=True, blank=True)
    # The series' first date: its day of the month is kept (31st → 28th → 31st).
    series_start = models.DateField(_("first occurrence"), null=True, blank=True)
    recurs_from = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        db_index=False,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("previous occurrence"),
    )
    planned_by = models.CharField(_("planned by"), max_length=64)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("inspection")
        verbose_name_plural = _("inspections")
        ordering = ["-planned_for", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "recurs_from"],
                condition=models.Q(recurs_from__isnull=False),
                name="inspection_one_successor",
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "state", "planned_for"], name="inspection_state_date"),
            models.Index(fields=["tenant", "planned_for"], name="inspection_date"),
            models.Index(fields=["tenant", "completed_at"], name="inspection_completed"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.planned_for.isoformat()})"


class InspectionItem(TenantOwnedModel):
    """One checklist item of an inspection, copied from the registry when the inspection
    was planned: its key, clause, kind and text in both languages as they were then, so a
    later change of the code never rewrites a past checklist."""

    inspection = models.ForeignKey(
        Inspection,
        on_delete=models.CASCADE,
        db_index=False,
        related_name="items",
        verbose_name=_("inspection"),
    )
    position = models.PositiveSmallIntegerField(_("position"))
    key = models.CharField(_("item"), max_length=64)
    clause = models.CharField(_("clause"), max_length=16)
    kind = models.CharField(_("kind"), max_length=16)
    text_en = models.CharField(_("text (English)"), max_length=CHECKLIST_TEXT_MAX_LENGTH)
    text_zh = models.CharField(_("text (Chinese)"), max_length=CHECKLIST_TEXT_MAX_LENGTH)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("checklist item")
        verbose_name_plural = _("checklist items")
        ordering = ["inspection", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "inspection", "key"], name="inspection_item_key"
            )
        ]

    def __str__(self) -> str:
        return f"§{self.clause} {self.key}"

    def text(self, language: str | None) -> str:
        return self.text_zh if (language or "").lower().startswith("zh") else self.text_en


class Finding(TenantOwnedModel):
    """What the inspector found for one item: pass, fail or not applicable, and a note
    (no customer's personal data: the form says so)."""

    # One finding per item (the constraint): a key, not a one-to-one, so that the unique
    # index leads with the tenant.
    item = models.ForeignKey(
        InspectionItem,
        on_delete=models.CASCADE,
        db_index=False,
        related_name="findings",
        verbose_name=_("checklist item"),
    )
    result = models.CharField(_("result"), max_length=16, choices=FindingResult.choices)
    note = models.TextField(_("note"), max_length=INSPECTION_NOTE_MAX_LENGTH, blank=True)
    recorded_by = models.ForeignKey(
        "tenants.User",
        on_delete=models.PROTECT,
        db_index=False,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    recorded_at = models.DateTimeField(_("recorded at"))

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("finding")
        verbose_name_plural = _("findings")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "item"], name="finding_one_per_item")
        ]
        indexes = [models.Index(fields=["tenant", "result"], name="finding_result")]

    def __str__(self) -> str:
        return f"{self.item_id}: {self.result}"


class EvidenceType(models.TextChoices):
    PDF = "application/pdf", "PDF"
    PNG = "image/png", "PNG"
    JPEG = "image/jpeg", "JPEG"
    WEBP = "image/webp", "WebP"


class EvidenceFile(TenantOwnedModel):
    """A file attached to a finding, stored as ``<evidence dir>/<tenant id>/<sha256>``:
    the hash names the exact bytes, shown with the size. The upload's file name is not
    kept (it could name a person)."""

    finding = models.ForeignKey(
        Finding,
        on_delete=models.CASCADE,
        db_index=False,
        related_name="evidence",
        verbose_name=_("finding"),
    )
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    size = models.PositiveIntegerField(_("size (bytes)"))
    content_type = models.CharField(_("type"), max_length=32, choices=EvidenceType.choices)
    uploaded_by = models.ForeignKey(
        "tenants.User",
        on_delete=models.PROTECT,
        db_index=False,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    uploaded_at = models.DateTimeField(_("uploaded at"))

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("evidence file")
        verbose_name_plural = _("evidence files")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "finding", "sha256"], name="evidence_file_once"
            )
        ]

    def __str__(self) -> str:
        return self.sha256[:12]


class FollowUp(TenantOwnedModel):
    """The remedy a failed finding calls for: an owner, a due date, open → done with a
    note. ``overdue_notified_at`` claims the one overdue notification."""

    finding = models.ForeignKey(
        Finding,
        on_delete=models.CASCADE,
        db_index=False,
        related_name="follow_ups",
        verbose_name=_("finding"),
    )
    owner = models.ForeignKey(
        "tenants.User",
        on_delete=models.PROTECT,
        db_index=False,
        related_name="+",
        verbose_name=_("owner"),
    )
    due_on = models.DateField(_("due date"))
    state = models.CharField(
        _("state"), max_length=8, choices=FollowUpState.choices, default=FollowUpState.OPEN
    )
    done_note = models.TextField(
        _("closing note"), max_length=INSPECTION_NOTE_MAX_LENGTH, blank=True
    )
    done_by = models.ForeignKey(
        "tenants.User",
        on_delete=models.PROTECT,
        db_index=False,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("closed by"),
    )
    done_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    overdue_notified_at = models.DateTimeField(_("overdue notice sent"), null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        ordering = ["due_on", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "finding"], name="follow_up_one_per_finding")
        ]
        indexes = [
            models.Index(fields=["tenant", "state", "due_on"], name="follow_up_state_due"),
            models.Index(fields=["tenant", "owner", "state"], name="follow_up_owner"),
        ]

    def __str__(self) -> str:
        return f"{self.finding_id} → {self.due_on.isoformat()}"
