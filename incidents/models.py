"""Order anomalies: what went wrong with an order, for customer service to follow up.

Minimal for now (kind, who reported it, when; who resolved it, when, with which outcome
and a short note); a later issue adds leak incidents, investigations, customer
notifications and feedback. A report carries no free text; the resolution's note is short,
without control characters, and the form asks for no personal data."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from orders.models import Order
from tenants.models import Tenant, TenantOwnedModel


class AnomalyKind(models.TextChoices):
    PIN_LOCKED = "pin_locked", _("Delivery PIN locked after wrong attempts")
    SEAL_MISMATCH = "seal_mismatch", _("Order code or seal did not match at pickup")
    LOST = "lost", _("Package lost")
    DAMAGED = "damaged", _("Package damaged")
    WRONG_ADDRESS = "wrong_address", _("Wrong delivery information")
    CUSTOMER_UNREACHABLE = "customer_unreachable", _("Customer unreachable")
    DATA_ERASED = "data_erased", _("Customer's data erased before delivery")


class AnomalyOutcome(models.TextChoices):
    RESOLVED_WITH_CUSTOMER = "resolved_with_customer", _("Resolved with the customer")
    REDELIVERED = "redelivered", _("Redelivered")
    REFUNDED = "refunded", _("Refunded")
    NO_ACTION = "no_action", _("No action needed")
    ESCALATED = "escalated", _("Escalated to an incident")
    # Follow-up actions (incidents.anomaly_actions).
    INFORMATION_CORRECTED = "information_corrected", _("Information corrected")
    REMADE = "remade", _("Re-made as a new order")


NOTE_MAX_LENGTH = 200


class AnomalyState(models.TextChoices):
    OPEN = "open", pgettext_lazy("anomaly state", "Open")
    ASSIGNED = "assigned", _("Assigned")
    RESOLVED = "resolved", _("Resolved")


class OrderAnomaly(TenantOwnedModel):
    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, db_index=False, related_name="+", verbose_name=_("order")
    )
    kind = models.CharField(_("kind"), max_length=24, choices=AnomalyKind.choices)
    reported_by = models.CharField(_("reported by"), max_length=64)
    reported_at = models.DateTimeField(_("reported at"), auto_now_add=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_by = models.CharField(_("resolved by"), max_length=64, blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=32, choices=AnomalyOutcome.choices, blank=True
    )
    note = models.CharField(_("note"), max_length=NOTE_MAX_LENGTH, blank=True)
    # Workflow (issue 18, point 4): open -> assigned -> resolved. Actor labels (user:<id>).
    assigned_to = models.CharField(_("assigned to"), max_length=64, blank=True)
    assigned_at = models.DateTimeField(_("assigned at"), null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("order anomaly")
        verbose_name_plural = _("order anomalies")
        ordering = ["-reported_at"]
        indexes = [
            models.Index(fields=["tenant", "resolved_at", "reported_at"], name="anomaly_open"),
            models.Index(fields=["tenant", "order"], name="anomaly_order"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def workflow_state(self) -> str:
        """open -> assigned -> resolved (AnomalyState)."""
        if self.resolved_at is not None:
            return AnomalyState.RESOLVED
        return AnomalyState.ASSIGNED if self.assigned_to else AnomalyState.OPEN


# --- Customers' privacy reports (§6.2) --------------------------------------------------
# A customer reports a privacy problem about an order on a public page (incidents/reports.py):
# identity checked with the order code and a one-time code texted to the order's phone. The
# report holds the customer's subject id (never copied personal data); the customer's own
# words are sealed under their key (privacy.api.seal) and cleared if their data is erased.

ANSWER_MAX_LENGTH = 1000
DESCRIPTION_MAX_LENGTH = 2000


class ReportKind(models.TextChoices):
    DATA_SHOWN = "data_shown", _("My data was shown to someone")
    WRONG_CONTACT = "wrong_contact", _("The wrong person contacted me")
    LABEL = "label", _("The label showed too much")
    OTHER = "other", _("Something else")


class ReportStatus(models.TextChoices):
    RECEIVED = "received", pgettext_lazy("privacy report status", "Received")
    IN_PROGRESS = "in_progress", _("In progress")
    ANSWERED = "answered", _("Answered")
    CLOSED = "closed", _("Closed")


class PrivacyReport(TenantOwnedModel):
    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, db_index=False, related_name="+", verbose_name=_("order")
    )
    subject_id = models.UUIDField(_("subject"))
    kind = models.CharField(_("kind"), max_length=16, choices=ReportKind.choices)
    description_ct = models.BinaryField(default=b"")  # sealed under the customer's key
    tracking_hash = models.CharField(max_length=64)
    status = models.CharField(
        _("status"), max_length=16, choices=ReportStatus.choices, default=ReportStatus.RECEIVED
    )
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    due_at = models.DateTimeField(_("due at"))
    answer = models.CharField(_("answer"), max_length=ANSWER_MAX_LENGTH, blank=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    answered_by = models.CharField(_("answered by"), max_length=64, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("privacy report")
        verbose_name_plural = _("privacy reports")
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["tenant", "tracking_hash"], name="privacy_report_tracking"),
            models.Index(fields=["tenant", "status", "due_at"], name="privacy_report_open"),
            models.Index(fields=["tenant", "subject_id"], name="privacy_report_subject"),
            models.Index(fields=["tenant", "order"], name="privacy_report_order"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}"

    @property
    def is_overdue(self) -> bool:
        """Not answered (nor closed) by its deadline."""
        return (
            self.status in (ReportStatus.RECEIVED, ReportStatus.IN_PROGRESS)
            and timezone.now() > self.due_at
        )


class ReportChallenge(models.Model):
    """One identity check on the public report pages before verification: filing a report
    (by order code) or reading one's status (by the tracking code's keyed hash). Not
    tenant-owned: the tenant is unknown until a task matches the code (so the page answers
    the same, as fast, whether or not it matches). Holds a keyed hash of the one-time code
    once sent; nothing personal."""

    FILE = "file"
    STATUS = "status"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    purpose = models.CharField(max_length=8)
    order_code = models.CharField(max_length=16, blank=True)
    tracking_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # Issue 18: the tenant the public page named (/privacy/report/for/<slug>/): only its
    # orders match. None: the platform's page, every active tenant's orders.
    brand = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    order_ref = models.UUIDField(null=True, blank=True)
    report_ref = models.BigIntegerField(null=True, blank=True)
    otp_hash = models.CharField(max_length=64, blank=True)
    otp_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("privacy report challenge")
        verbose_name_plural = _("privacy report challenges")
        indexes = [models.Index(fields=["created_at"], name="report_challenge_time")]

    def __str__(self) -> str:
        return f"{self.purpose} {self.pk}"


# ---------------------------------------------------------------------------------------
# Leak incident cases (issue 18, point 1 and the drill flag of point 6): a case graded on
# the national four-level scale, moved through an explicit state machine, with a timeline
# of attributed moves and containment actions. Nothing here holds personal data: the
# title, the reasons and the notes are short texts whose forms say so, and the people are
# stored as actor labels (``user:<id>``), shown by username.
# ---------------------------------------------------------------------------------------

CASE_TEXT_MAX_LENGTH = 500
CASE_TITLE_MAX_LENGTH = 120


class CaseSeverity(models.TextChoices):
    """The national four-level grading of a personal-data incident (一般 / 较大 / 重大 /
    特别重大), lowest first."""

    GENERAL = "general", _("General")
    MAJOR = "major", _("Major")
    SERIOUS = "serious", _("Serious")
    ESPECIALLY_SERIOUS = "especially_serious", _("Especially serious")


class CaseKind(models.TextChoices):
    LOST_DEVICE = "lost_device", _("Lost device")
    MIS_SENT_LABEL = "mis_sent_label", _("Mis-sent label")
    INSIDER_ACCESS = "insider_access", _("Insider access")
    SYSTEM_BREACH = "system_breach", _("Breach of a system")
    LOST_PACKAGE = "lost_package", _("Lost package")
    OTHER = "other", _("Other")


class DataCategory(models.TextChoices):
    NAME = "name", _("Name")
    PHONE = "phone", _("Phone number")
    ADDRESS = "address", _("Address")
    DELIVERY_NOTE = "delivery_note", _("Delivery note")
    ORDER_CONTENTS = "order_contents", _("Order contents")


class CaseState(models.TextChoices):
    REPORTED = "reported", _("Reported")
    CONTAINED = "contained", _("Contained")
    INVESTIGATING = "investigating", _("Investigating")
    NOTIFIED = "notified", _("Notified")
    REMEDIATED = "remediated", _("Remediated")
    CLOSED = "closed", _("Closed")


class IncidentCase(TenantOwnedModel):
    """A personal-data leak case. ``number`` counts the tenant's cases; ``code`` (e.g.
    ``INC-2026-0007``: the year opened and the number) is what people read."""

    number = models.PositiveIntegerField(_("number"), editable=False)
    code = models.CharField(_("code"), max_length=20, editable=False)
    title = models.CharField(
        _("title"),
        max_length=CASE_TITLE_MAX_LENGTH,
        help_text=_(
            "What happened, in a few words. Do not write personal data: no names, phone "
            "numbers or addresses."
        ),
    )
    severity = models.CharField(_("severity"), max_length=24, choices=CaseSeverity.choices)
    severity_reason = models.CharField(
        _("reason for the severity"),
        max_length=CASE_TEXT_MAX_LENGTH,
        help_text=_("Why this grade. No personal data."),
    )
    kind = models.CharField(_("kind"), max_length=24, choices=CaseKind.choices)
    data_categories = models.JSONField(_("affected data"), default=list, blank=True)
    affected_customers = models.PositiveIntegerField(_("affected customers"), default=0)
    discovered_at = models.DateTimeField(_("discovered at"))
    discovered_by = models.CharField(
        _("discovered by"),
        max_length=100,
        help_text=_("The role or name of the staff member who found it; never a customer's data."),
    )
    opened_by = models.CharField(_("opened by"), max_length=64, editable=False)
    opened_at = models.DateTimeField(_("opened at"), auto_now_add=True)
    is_drill = models.BooleanField(
        _("drill"),
        default=False,
        help_text=_("A drill is marked as such everywhere and is never reported or notified."),
    )
    state = models.CharField(
        _("state"),
        max_length=16,
        choices=CaseState.choices,
        default=CaseState.REPORTED,
        editable=False,
    )
    anomaly = models.ForeignKey(
        OrderAnomaly,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,
        related_name="+",
        verbose_name=_("promoted from anomaly"),
        editable=False,
    )
    # Issue 18: a customer's privacy report promoted to this case (once per report).
    privacy_report = models.ForeignKey(
        PrivacyReport,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,
        related_name="+",
        verbose_name=_("promoted from privacy report"),
        editable=False,
    )
    # Issue 20: an anomalous-access alert promoted to this case (once per alert).
    alert = models.ForeignKey(
        "audits.AccessAlert",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,
        related_name="+",
        verbose_name=_("promoted from alert"),
        editable=False,
    )

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("incident case")
        verbose_name_plural = _("incident cases")
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "number"], name="incident_case_number"),
        ]
        indexes = [
            models.Index(fields=["tenant", "state", "opened_at"], name="incident_case_state"),
            models.Index(fields=["tenant", "anomaly"], name="incident_case_anomaly"),
            models.Index(fields=["tenant", "privacy_report"], name="incident_case_report"),
            models.Index(fields=["tenant", "alert"], name="incident_case_alert"),
        ]

    def __str__(self) -> str:
        return self.code


class CaseEventKind(models.TextChoices):
    OPENED = "opened", _("Opened")
    MOVED = "moved", _("Moved")
    CONTAINMENT = "containment", _("Containment")
    REPORT_MADE = "report_made", _("Report made")
    CLOCK_ESCALATED = "clock_escalated", _("Report clock escalated")
    CLOCK_OVERDUE = "clock_overdue", _("Report overdue")
    # Issue 18, containment and regrading (incidents/case_actions.py).
    LIFTED = "lifted", _("Suspension lifted")
    REGRADED = "regraded", _("Regraded")
    ROTATION_STARTED = "rotation_started", _("Key rotation started")
    ROTATION_DONE = "rotation_done", _("Key rotation done")


class ContainmentAction(models.TextChoices):
    END_SESSIONS = "end_sessions", _("End a user's sessions")
    DEACTIVATE_USER = "deactivate_user", _("Deactivate a user")
    REVOKE_TOKEN = "revoke_token", _("Revoke an integration token")
    SUSPEND_DISPATCH = "suspend_dispatch", _("Suspend a rider from dispatch")


class CaseEvent(TenantOwnedModel):
    """One line of a case's timeline: opening, a move between states, a containment
    action (which one, on whom — an actor label — and how many sessions it ended)."""

    case = models.ForeignKey(
        IncidentCase, on_delete=models.CASCADE, db_index=False, related_name="events"
    )
    kind = models.CharField(max_length=16, choices=CaseEventKind.choices)
    from_state = models.CharField(max_length=16, choices=CaseState.choices, blank=True)
    to_state = models.CharField(max_length=16, choices=CaseState.choices, blank=True)
    action = models.CharField(max_length=24, choices=ContainmentAction.choices, blank=True)
    target = models.CharField(max_length=64, blank=True)
    count = models.PositiveIntegerField(null=True, blank=True)
    actor = models.CharField(max_length=64)
    at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=CASE_TEXT_MAX_LENGTH, blank=True)
    # A regrade's times before and after (ISO 8601, never personal data):
    # {"discovered_at": [before, after], "due_at": [before, after]}.
    times = models.JSONField(default=dict, blank=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("case event")
        verbose_name_plural = _("case events")
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["tenant", "case", "at"], name="incident_case_event")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}"


# ---------------------------------------------------------------------------------------
# Legal clocks (issue 18, point 2): the reports a case owes an authority, each with its due
# time (incidents/clocks.py says which and when). The reference is the number the
# authority gave, never personal data.
# ---------------------------------------------------------------------------------------

REPORT_REFERENCE_MAX_LENGTH = 100


class Jurisdiction(models.TextChoices):
    CN_PIPL = "cn_pipl", _("China (PIPL)")
    GDPR = "gdpr", _("European Union (GDPR)")


class IncidentProfile(TenantOwnedModel):
    """A tenant's incident-reporting profile. A tenant without one is on the default:
    Chinese rules, not a critical-information-infrastructure operator."""

    jurisdiction = models.CharField(
        _("jurisdiction"),
        max_length=16,
        choices=Jurisdiction.choices,
        default=Jurisdiction.CN_PIPL,
    )
    critical_infrastructure = models.BooleanField(
        _("critical information infrastructure operator"), default=False
    )

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("incident reporting profile")
        verbose_name_plural = _("incident reporting profiles")
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="incident_profile_tenant"),
        ]

    def __str__(self) -> str:
        return str(self.get_jurisdiction_display())


class CaseReportKind(models.TextChoices):
    AUTHORITY_INITIAL = "authority_initial", _("Report to the authority")
    SUMMARY = "summary", _("Summary report")


class CaseReport(TenantOwnedModel):
    """A report a case owes, due at ``due_at`` (its clock started at ``starts_at``); made
    when ``made_at`` is set. ``escalated_at`` and ``overdue_at`` are set once each by the
    clock check. A drill's clocks run too; its reports are marked and never sent."""

    case = models.ForeignKey(
        IncidentCase, on_delete=models.CASCADE, db_index=False, related_name="reports"
    )
    kind = models.CharField(_("kind"), max_length=24, choices=CaseReportKind.choices)
    is_drill = models.BooleanField(_("drill"), default=False)
    starts_at = models.DateTimeField(_("clock started at"))
    due_at = models.DateTimeField(_("due at"))
    made_at = models.DateTimeField(_("made at"), null=True, blank=True)
    reference = models.CharField(_("reference"), max_length=REPORT_REFERENCE_MAX_LENGTH, blank=True)
    made_by = models.CharField(_("made by"), max_length=64, blank=True)
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    overdue_at = models.DateTimeField(_("flagged overdue at"), null=True, blank=True)
    # Set when a regrade below the reporting threshold makes an unmade report not required
    # (incidents/clocks.py, ``regrade_clocks``); cleared when a regrade makes it due again.
    withdrawn_at = models.DateTimeField(_("not required since"), null=True, blank=True)
    # The due time before a regrade first moved it (a corrected time of discovery); kept
    # with ``overdue_at`` and ``escalated_at``, which a regrade never clears.
    first_due_at = models.DateTimeField(_("first due at"), null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("case report")
        verbose_name_plural = _("case reports")
        ordering = ["due_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "case", "kind"], name="incident_case_report_kind"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "made_at", "due_at"], name="incident_report_open"),
        ]

    def __str__(self) -> str:
        return str(self.get_kind_display())


# ---------------------------------------------------------------------------------------
# Investigation (issue 18, point 1): a case's investigation timeline — linked audit events,
# responsible staff and findings — and its evidence files, kept with their chain of
# custody. Items and files are never changed or deleted. A finding is a short text whose
# form asks for no personal data; an evidence file is sealed under the backup key ring
# (privacy.api.seal_evidence) and only its display name, size and SHA-256 are stored here.
# ---------------------------------------------------------------------------------------

FINDING_MAX_LENGTH = 500
FINDING_MAX_LINES = 10
EVIDENCE_NAME_MAX_LENGTH = 80
EVIDENCE_LABEL_MAX_LENGTH = 80


class InvestigationKind(models.TextChoices):
    AUDIT_EVENT = "audit_event", _("Audit event")
    STAFF = "staff", _("Responsible staff")
    FINDING = "finding", _("Finding")


class InvestigationItem(TenantOwnedModel):
    """One item of a case's investigation: an audit event of the tenant's log, a staff
    member made responsible (``staff``), or a finding (``text``); who added it, when."""

    case = models.ForeignKey(
        IncidentCase, on_delete=models.CASCADE, db_index=False, related_name="investigation"
    )
    kind = models.CharField(max_length=16, choices=InvestigationKind.choices)
    # No database constraint: the audit log is append-only and may be truncated by nobody
    # but the test harness, so no table may reference it (audits' TRUNCATE guard); the
    # event is checked to exist in the tenant's log when linked, and events are never
    # deleted.
    audit_event = models.ForeignKey(
        "audits.AuditEvent",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        db_index=False,
        related_name="+",
    )
    staff = models.ForeignKey(
        "tenants.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,
        related_name="+",
    )
    text = models.CharField(max_length=FINDING_MAX_LENGTH, blank=True)
    added_by = models.CharField(max_length=64)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("investigation item")
        verbose_name_plural = _("investigation items")
        ordering = ["added_at", "pk"]
        indexes = [
            models.Index(fields=["tenant", "case", "added_at"], name="incident_investigation"),
        ]

    def __str__(self) -> str:
        return str(self.get_kind_display())


class EvidenceFile(TenantOwnedModel):
    """An evidence file of a case: ``file_id`` names the sealed file in the tenant's
    evidence folder; ``sha256`` and ``size`` are of the plaintext, checked on every
    download; ``name`` is ``evidence-<case code>-<n>.<ext>`` (never the uploaded name, which
    may hold personal data) and ``label`` staff's short description (no personal data)."""

    case = models.ForeignKey(
        IncidentCase, on_delete=models.CASCADE, db_index=False, related_name="evidence"
    )
    file_id = models.UUIDField(editable=False)
    name = models.CharField(_("name"), max_length=EVIDENCE_NAME_MAX_LENGTH)
    label = models.CharField(_("what it is"), max_length=EVIDENCE_LABEL_MAX_LENGTH, blank=True)
    size = models.PositiveBigIntegerField(_("size"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    key_version = models.PositiveIntegerField()
    added_by = models.CharField(_("added by"), max_length=64)
    added_at = models.DateTimeField(_("added at"), auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("evidence file")
        verbose_name_plural = _("evidence files")
        ordering = ["added_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "file_id"], name="incident_evidence_file"),
        ]
        indexes = [
            models.Index(fields=["tenant", "case", "added_at"], name="incident_evidence"),
        ]

    def __str__(self) -> str:
        return self.name


# ---------------------------------------------------------------------------------------
# Affected customers and the customer notice (issue 18, points 1 and 3; a drill's notice
# sends nothing, point 6). A customer is linked by subject id and order (never copied
# personal data); their phone is revealed through the vault only when a text is sent. The
# notice's texts are written by staff for every customer alike: no personal data.
# ---------------------------------------------------------------------------------------

NOTICE_TEXT_MAX_LENGTH = 500
NOTICE_CONTACT_MAX_LENGTH = 200


class RemedyKind(models.TextChoices):
    NONE = "none", _("None")
    REFUND = "refund", _("Refund")
    VOUCHER = "voucher", _("Voucher")
    COMPENSATION = "compensation", _("Compensation")
    OTHER = "other", _("Other remedy")


class RemedyStatus(models.TextChoices):
    NONE = "none", _("None")
    OFFERED = "offered", _("Offered")
    ACCEPTED = "accepted", _("Accepted")
    PAID = "paid", _("Paid")
    DECLINED = "declined", _("Declined")


class AffectedCustomer(TenantOwnedModel):
    """A customer affected by a case: their subject id and the order through which staff
    linked them (one row per case and subject). Whether and when they were notified, the
    apology, and any remedy (kind, amount in ``remedy_currency``, status)."""

    case = models.ForeignKey(
        IncidentCase, on_delete=models.CASCADE, db_index=False, related_name="affected"
    )
    subject_id = models.UUIDField(_("subject"))
    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, db_index=False, related_name="+", verbose_name=_("order")
    )
    added_by = models.CharField(_("added by"), max_length=64)
    added_at = models.DateTimeField(_("added at"), auto_now_add=True)
    notified_at = models.DateTimeField(_("notified at"), null=True, blank=True)
    channel = models.CharField(_("channel"), max_length=8, blank=True)
    apology_sent = models.BooleanField(_("apology sent"), default=False)
    remedy_kind = models.CharField(
        _("remedy"), max_length=16, choices=RemedyKind.choices, default=RemedyKind.NONE
    )
    remedy_amount = models.DecimalField(
        _("amount"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    remedy_currency = models.CharField(_("currency"), max_length=3, default="CNY")
    remedy_status = models.CharField(
        _("remedy status"), max_length=16, choices=RemedyStatus.choices, default=RemedyStatus.NONE
    )

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("affected customer")
        verbose_name_plural = _("affected customers")
        ordering = ["added_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "case", "subject_id"], name="incident_affected_subject"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "case", "added_at"], name="incident_affected_case"),
            models.Index(fields=["tenant", "subject_id"], name="incident_affected_subj"),
            models.Index(fields=["tenant", "order"], name="incident_affected_order"),
        ]

    def __str__(self) -> str:
        return self.subject_reference

    @property
    def subject_reference(self) -> str:
        """A short reference to the customer that reveals nothing about them."""
        return f"S-{self.subject_id.hex[-6:].upper()}"


class NoticeState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    APPROVED = "approved", _("Approved")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")


class CaseNotice(TenantOwnedModel):
    """The case's notice to its affected customers (PIPL Art. 57), one per case, in
    Chinese and English. Edited while a draft; approved by a privacy officer; then sent."""

    case = models.ForeignKey(
        IncidentCase, on_delete=models.CASCADE, db_index=False, related_name="notices"
    )
    data_categories = models.JSONField(_("affected data"), default=list, blank=True)
    cause_zh = models.CharField(_("cause (Chinese)"), max_length=NOTICE_TEXT_MAX_LENGTH)
    cause_en = models.CharField(_("cause (English)"), max_length=NOTICE_TEXT_MAX_LENGTH)
    harm_zh = models.CharField(_("possible harm (Chinese)"), max_length=NOTICE_TEXT_MAX_LENGTH)
    harm_en = models.CharField(_("possible harm (English)"), max_length=NOTICE_TEXT_MAX_LENGTH)
    measures_zh = models.CharField(
        _("what we have done (Chinese)"), max_length=NOTICE_TEXT_MAX_LENGTH
    )
    measures_en = models.CharField(
        _("what we have done (English)"), max_length=NOTICE_TEXT_MAX_LENGTH
    )
    advice_zh = models.CharField(
        _("what the customer can do (Chinese)"), max_length=NOTICE_TEXT_MAX_LENGTH
    )
    advice_en = models.CharField(
        _("what the customer can do (English)"), max_length=NOTICE_TEXT_MAX_LENGTH
    )
    contact = models.CharField(_("privacy contact"), max_length=NOTICE_CONTACT_MAX_LENGTH)
    state = models.CharField(
        _("state"), max_length=16, choices=NoticeState.choices, default=NoticeState.DRAFT
    )
    drafted_by = models.CharField(_("drafted by"), max_length=64)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    approved_by = models.CharField(_("approved by"), max_length=64, blank=True)
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("customer notice")
        verbose_name_plural = _("customer notices")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "case"], name="incident_notice_case"),
        ]

    def __str__(self) -> str:
        return str(self.get_state_display())


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    DRILL = "drill", _("Drill — not sent")


class NoticeDelivery(TenantOwnedModel):
    """The notice's text to one affected customer: its state, how many attempts, the last
    error's class name (never its message), when it was sent."""

    notice = models.ForeignKey(
        CaseNotice, on_delete=models.CASCADE, db_index=False, related_name="deliveries"
    )
    customer = models.ForeignKey(
        AffectedCustomer, on_delete=models.CASCADE, db_index=False, related_name="deliveries"
    )
    status = models.CharField(
        _("status"), max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    error = models.CharField(_("error"), max_length=64, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("notice delivery")
        verbose_name_plural = _("notice deliveries")
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "notice", "customer"], name="incident_delivery_customer"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "notice", "status"], name="incident_delivery_status"),
            models.Index(fields=["tenant", "customer"], name="incident_delivery_cust"),
        ]

    def __str__(self) -> str:
        return str(self.get_status_display())
