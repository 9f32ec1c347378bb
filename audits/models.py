from __future__ import annotations

import datetime
import hashlib
from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.audit_registry import action_label
from tenants.models import TenantOwnedModel

GENESIS_HASH = "0" * 64

#: How many chains (stripes) each tenant's log is cut into (decision 0019): a writer appends
#: to any stripe no other transaction holds, so up to this many writers of one tenant never
#: wait on each other. Verification expects exactly these stripes for a tenant with a head.
CHAIN_STRIPES = 16


def stripe_genesis(stripe: int) -> str:
    """The ``prev_hash`` of a stripe's first event: stripe 0 keeps the chain's original
    genesis (a chain from before stripes is stripe 0 as it was); every other stripe's is
    bound to its number, so an event or a whole stripe moved to another stripe breaks."""
    if stripe == 0:
        return GENESIS_HASH

    return hashlib.sha256(f"baomi-audit-stripe:{stripe}".encode()).hexdigest()


#: The access events read per person in a window (the alert rules, the audit log filtered
#: by actor): the partial index ``audit_event_person_access`` covers exactly these.
PERSON_ACCESS_ACTIONS = (
    "privacy.reveal",
    "privacy.reveal_batch",
    "privacy.reveal_denied",
    "privacy.reveal_batch_denied",
    "privacy.search",
    "privacy.search_denied",
    "alerts.not_found_probe",
)


class AuditEvent(TenantOwnedModel):
    """One entry of a tenant's append-only, hash-chained event log.

    ``hash`` is SHA-256 over the event's canonical form, which includes ``prev_hash``, the
    hash of the tenant's previous event (``GENESIS_HASH`` for the first). Editing, deleting
    or reordering an event breaks the chain from there on (``verify_audit_chain``). On
    PostgreSQL triggers reject UPDATE, DELETE and TRUNCATE. Events hold ids and labels, never
    personal data.
    """

    # The stripe (chain) of the tenant's log this event belongs to, and its place in it.
    stripe = models.PositiveSmallIntegerField(_("stripe"), default=0)
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
        # Newest first: ids grow with inserts (the stripes' sequences interleave).
        ordering = ["tenant", "-id"]
        constraints = [
            # Two writers can never both append sequence N to a stripe: no chain can fork.
            models.UniqueConstraint(
                fields=["tenant", "stripe", "sequence"], name="audit_event_stripe_sequence"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "occurred_at"], name="audit_event_time"),
            models.Index(fields=["tenant", "object_type", "object_id"], name="audit_event_object"),
            models.Index(fields=["tenant", "action"], name="audit_event_action"),
            # One person's access events in a window: the alert rules' reads and the audit
            # log filtered by actor (the dashboard's top revealers). Partial: the other
            # events, most of the log, pay nothing for it on insert.
            models.Index(
                fields=["tenant", "actor", "occurred_at"],
                name="audit_event_person_access",
                condition=models.Q(action__in=PERSON_ACCESS_ACTIONS),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}#{self.stripe}.{self.sequence} {action_label(self.action)}"


class AuditChainHead(TenantOwnedModel):
    """The last event of one stripe of a tenant's chain (``CHAIN_STRIPES`` per tenant): an
    append locks a head no other transaction holds (``SKIP LOCKED``) until it commits, so
    concurrent writers take different stripes instead of turns, and verification can tell
    that the newest events of a stripe were not cut off (decision 0019)."""

    stripe = models.PositiveSmallIntegerField(default=0)
    sequence = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("audit chain head")
        verbose_name_plural = _("audit chain heads")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "stripe"], name="audit_chain_head_stripe")
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}#{self.stripe}.{self.sequence}"


# --- Supervision settings (issue 20): shared by the access statistics and the alert rules ---


def _count_field(label: Any, default: int, maximum: int) -> models.PositiveIntegerField:
    """A rule's threshold: how many within its window raise an alert (at least 2)."""
    return models.PositiveIntegerField(
        label, default=default, validators=[MinValueValidator(2), MaxValueValidator(maximum)]
    )


def _window_field(default: int) -> models.PositiveIntegerField:
    """A rule's window, in minutes (a minute to a day)."""
    return models.PositiveIntegerField(
        _("within (minutes)"),
        default=default,
        validators=[MinValueValidator(1), MaxValueValidator(1440)],
    )


class SupervisionSettings(TenantOwnedModel):
    """A tenant's supervision thresholds: its staff's working hours (a reveal outside them
    is flagged) and the anomalous-access rules' limits. One row per tenant, created with
    the defaults on first use (``audits.hours.settings_for``)."""

    workday_start = models.TimeField(_("working hours start"), default=datetime.time(7, 0))
    workday_end = models.TimeField(_("working hours end"), default=datetime.time(23, 0))
    reveal_burst_count = _count_field(_("reveals by one person that raise an alert"), 50, 100_000)
    reveal_burst_minutes = _window_field(60)
    denied_count = _count_field(
        _("refused reveals or not-found probes that raise an alert"), 5, 10_000
    )
    denied_minutes = _window_field(15)
    paging_pages = _count_field(_("list pages by one person that raise an alert"), 40, 100_000)
    paging_minutes = _window_field(10)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("supervision settings")
        verbose_name_plural = _("supervision settings")
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="supervision_settings_tenant")
        ]

    def __str__(self) -> str:
        return str(self._meta.verbose_name)


# --- violations (issue 20) ---
# A breach of the policy by a person of the tenant (staff or rider), its evidence, the
# sanctions decided (§6.3.1) and any compensation owed by the person to the company
# (§6.3.2). Written by audits/violations/services.py only; docs/decisions/0016.

VIOLATION_TEXT_MAX_LENGTH = 2000
VIOLATION_SHORT_TEXT_MAX_LENGTH = 200


class ViolationClause(models.TextChoices):
    """The policy's clauses a person can breach ("§" is added when shown)."""

    C_2_1_1 = "2.1.1", _("§2.1.1 Collect only the information an order needs")
    C_2_1_2 = "2.1.2", _("§2.1.2 Tell the customer why information is collected")
    C_2_3_1 = "2.3.1", _("§2.3.1 Use customers' information only for delivery duties")
    C_2_3_2 = "2.3.2", _("§2.3.2 No copying, spreading or selling customers' information")
    C_2_4_1 = "2.4.1", _("§2.4.1 Delete information no longer needed on time")
    C_3_1_1 = "3.1.1", _("§3.1.1 Take orders where nobody can look on")
    C_3_1_2 = "3.1.2", _("§3.1.2 Only authorised people access orders")
    C_3_2_1 = "3.2.1", _("§3.2.1 No discussing orders in public in the kitchen")
    C_3_2_2 = "3.2.2", _("§3.2.2 Keep order food apart from unrelated items")
    C_3_3_1 = "3.3.1", _("§3.3.1 No sensitive order information on the packaging")
    C_3_3_2 = "3.3.2", _("§3.3.2 Pack orders properly")
    C_4_1_1 = "4.1.1", _("§4.1.1 Riders sign the confidentiality agreement")
    C_4_2_1 = "4.2.1", _("§4.2.1 Keep order information from bystanders at pickup")
    C_4_2_2 = "4.2.2", _("§4.2.2 Stow the food safely at once after pickup")
    C_4_3_1 = "4.3.1", _("§4.3.1 Keep the food out of sight on the way")
    C_4_3_2 = "4.3.2", _("§4.3.2 Never disclose customers' information on the way")
    C_4_3_3 = "4.3.3", _("§4.3.3 Store food safely when a stop is needed")
    C_4_4_1 = "4.4.1", _("§4.4.1 Hand the food to the right customer")
    C_4_4_2 = "4.4.2", _("§4.4.2 Discuss no order information at the door")
    C_5_1_1 = "5.1.1", _("§5.1.1 Report and contain a leak at once")
    C_5_2_2 = "5.2.2", _("§5.2.2 Protect customers' information when handling anomalies")
    C_7_1_2 = "7.1.2", _("§7.1.2 Sign the confidentiality pledge")


class ViolationSeverity(models.TextChoices):
    MINOR = "minor", _("Minor")
    SERIOUS = "serious", _("Serious")
    GRAVE = "grave", _("Grave")


class ViolationState(models.TextChoices):
    RECORDED = "recorded", _("Recorded")
    DECIDED = "decided", _("Sanction decided")
    ANSWERED = "answered", _("Answered by the person")
    CLOSED = "closed", _("Closed")
    WITHDRAWN = "withdrawn", _("Withdrawn")


#: States in which a violation is still being handled.
OPEN_VIOLATION_STATES = (ViolationState.RECORDED, ViolationState.DECIDED, ViolationState.ANSWERED)


class Violation(TenantOwnedModel):
    person = models.ForeignKey(
        "tenants.User",
        on_delete=models.PROTECT,
        db_index=False,
        related_name="+",
        verbose_name=_("person"),
    )
    clause = models.CharField(_("clause"), max_length=8, choices=ViolationClause.choices)
    description = models.TextField(_("description"), max_length=VIOLATION_TEXT_MAX_LENGTH)
    severity = models.CharField(_("severity"), max_length=16, choices=ViolationSeverity.choices)
    occurred_on = models.DateField(_("occurred on"))
    state = models.CharField(
        _("state"), max_length=16, choices=ViolationState.choices, default=ViolationState.RECORDED
    )
    recorded_by = models.CharField(_("recorded by"), max_length=64)
    recorded_at = models.DateTimeField(_("recorded at"))
    decided_by = models.CharField(_("decided by"), max_length=64, blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    closed_by = models.CharField(_("closed by"), max_length=64, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    withdrawn_reason = models.CharField(
        _("reason for withdrawal"), max_length=VIOLATION_SHORT_TEXT_MAX_LENGTH, blank=True
    )
    # §6.3.2: what the person owes the company for a loss their violation caused.
    compensation_amount = models.DecimalField(
        _("compensation owed (CNY)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    compensation_reason = models.CharField(
        _("compensation reason"), max_length=VIOLATION_SHORT_TEXT_MAX_LENGTH, blank=True
    )
    compensation_case = models.CharField(_("incident case"), max_length=64, blank=True)
    compensation_case_label = models.CharField(
        _("incident case"), max_length=VIOLATION_SHORT_TEXT_MAX_LENGTH, blank=True
    )

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("violation")
        verbose_name_plural = _("violations")
        ordering = ["-recorded_at", "-pk"]
        indexes = [
            models.Index(fields=["tenant", "person", "recorded_at"], name="violation_person"),
            models.Index(fields=["tenant", "state", "recorded_at"], name="violation_state"),
        ]

    def __str__(self) -> str:
        return f"V-{self.pk}"

    @property
    def number(self) -> str:
        """How pages and messages name it."""
        return f"V-{self.pk}"


class ViolationEvidence(TenantOwnedModel):
    """A link from a violation to what proves it: an object of a registered evidence kind
    (audits.violations.evidence), by id, with the readable label it had when linked."""

    violation = models.ForeignKey(
        Violation,
        on_delete=models.PROTECT,
        db_index=False,
        related_name="evidence",
        verbose_name=_("violation"),
    )
    kind = models.CharField(_("kind"), max_length=32)
    object_id = models.CharField(_("object id"), max_length=64)
    label = models.CharField(_("label"), max_length=VIOLATION_SHORT_TEXT_MAX_LENGTH)
    added_by = models.CharField(_("added by"), max_length=64)
    added_at = models.DateTimeField(_("added at"))

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("violation evidence")
        verbose_name_plural = _("violation evidence")
        ordering = ["added_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "violation", "kind", "object_id"], name="violation_evidence_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.object_id}"


class SanctionKind(models.TextChoices):
    WARNING = "warning", _("Warning")
    FINE = "fine", _("Fine")
    SUSPEND_REVEAL = "suspend_reveal", _("Suspension from reveal")
    SUSPEND_DISPATCH = "suspend_dispatch", _("Suspension from dispatch")
    DISMISSAL = "dismissal", _("Dismissal")
    REFERRAL = "referral", _("Referral to the authorities")


class Sanction(TenantOwnedModel):
    violation = models.ForeignKey(
        Violation,
        on_delete=models.PROTECT,
        db_index=False,
        related_name="sanctions",
        verbose_name=_("violation"),
    )
    kind = models.CharField(_("sanction"), max_length=24, choices=SanctionKind.choices)
    amount = models.DecimalField(
        _("amount (CNY)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    suspension = models.ForeignKey(
        "tenants.UserSuspension",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,
        related_name="+",
        verbose_name=_("suspension"),
    )
    ends_on = models.DateField(_("until"), null=True, blank=True)
    authority = models.CharField(_("authority"), max_length=100, blank=True)
    reference = models.CharField(_("reference"), max_length=64, blank=True)
    referred_on = models.DateField(_("referred on"), null=True, blank=True)
    decided_by = models.CharField(_("decided by"), max_length=64)
    decided_at = models.DateTimeField(_("decided at"))

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("sanction")
        verbose_name_plural = _("sanctions")
        ordering = ["decided_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "violation", "kind"], name="sanction_kind_once"
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "decided_at", "kind"], name="sanction_time"),
        ]

    def __str__(self) -> str:
        return str(self.get_kind_display())


class ViolationAnswer(TenantOwnedModel):
    """The person's answer, once per stage: while recorded, and once a sanction is decided."""

    violation = models.ForeignKey(
        Violation,
        on_delete=models.PROTECT,
        db_index=False,
        related_name="answers",
        verbose_name=_("violation"),
    )
    stage = models.CharField(_("stage"), max_length=16, choices=ViolationState.choices)
    text = models.TextField(_("answer"), max_length=VIOLATION_TEXT_MAX_LENGTH)
    answered_at = models.DateTimeField(_("answered at"))

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("answer")
        verbose_name_plural = _("answers")
        ordering = ["answered_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "violation", "stage"], name="violation_answer_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.violation_id}/{self.stage}"


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
    ``sequence`` is counted in ``AccessRollup``, none after it: per stripe of the chain in
    ``stripes`` (by stripe; ``sequence`` is their total; empty: a cursor from before
    stripes, whose ``sequence`` is stripe 0's). Locked by each roll-up batch, moved in the
    batch's transaction."""

    sequence = models.PositiveBigIntegerField(default=0)
    stripes = models.JSONField(default=list, blank=True)
    rolled_up_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("access statistics cursor")
        verbose_name_plural = _("access statistics cursors")
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="access_rollup_cursor_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}#{self.sequence}"


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
    # Format 2 (decision 0019): every stripe's head as [sequence, hash], by stripe;
    # ``sequence`` is then their total and ``hash`` the digest over them.
    stripes = models.JSONField(_("stripe heads"), default=list, blank=True)
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
    read of each stripe (``stripes``, by stripe; ``sequence`` is their total). Its row
    lock makes two evaluations of a tenant take turns."""

    sequence = models.PositiveBigIntegerField(default=0)
    stripes = models.JSONField(default=list, blank=True)
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
