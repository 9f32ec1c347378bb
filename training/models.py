"""Training: courses, quizzes, pledges (issue 19) and drills."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from tenants.models import TenantOwnedModel
from tenants.versioning import VersionedDocument

# ---------------------------------------------------------------------------------------
# Drills (issue 19, point 6, §7.2.2): a drill is planned (when, which scenario, which roles
# and optionally which people take part), run as an incident case in drill mode where the
# incidents app registered a runner (training.drills), and closed with lessons learned and
# an outcome. The linked case is held by id and code (incidents is a later layer: no
# foreign key across it). Nothing here holds personal data: the title and the lessons are
# texts whose forms say so; people are actor labels (``user:<id>``), shown by username.
# ---------------------------------------------------------------------------------------

DRILL_TITLE_MAX_LENGTH = 120
DRILL_LESSONS_MAX_LENGTH = 2000


class DrillScenario(models.TextChoices):
    LOST_RIDER_PHONE = "lost_rider_phone", _("A rider's phone is lost")
    MIS_SENT_LABEL = "mis_sent_label", _("A label is sent to the wrong place")
    INSIDER_ACCESS = "insider_access", _("A staff member looks at more data than needed")
    SYSTEM_BREACH = "system_breach", _("A system is breached")
    OTHER = "other", _("Another scenario")


class DrillState(models.TextChoices):
    PLANNED = "planned", pgettext_lazy("drill state", "Planned")
    RUNNING = "running", pgettext_lazy("drill state", "Running")
    CLOSED = "closed", pgettext_lazy("drill state", "Closed")


class DrillOutcome(models.TextChoices):
    HELD = "held", _("Held as planned")
    PARTLY = "partly", _("Partly held")
    CANCELLED = "cancelled", _("Cancelled")


class Drill(TenantOwnedModel):
    """One drill of a tenant. ``held_at`` is set when it is closed as held (fully or
    partly): when it ran (or was planned for); a cancelled drill has none. Those count in
    the tenant's drills of the last 12 months (training.drills)."""

    scenario = models.CharField(_("scenario"), max_length=24, choices=DrillScenario.choices)
    title = models.CharField(
        _("title"),
        max_length=DRILL_TITLE_MAX_LENGTH,
        help_text=_("The scenario in a few words. Do not write personal data."),
    )
    scheduled_for = models.DateTimeField(_("planned for"))
    participant_roles = models.JSONField(_("participating roles"), default=list, blank=True)
    participants = models.JSONField(_("named participants"), default=list, blank=True)
    state = models.CharField(
        _("state"),
        max_length=16,
        choices=DrillState.choices,
        default=DrillState.PLANNED,
        editable=False,
    )
    planned_by = models.CharField(_("planned by"), max_length=64, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # The incident case it ran as (incidents.IncidentCase, by id and code).
    case_id = models.BigIntegerField(_("drill case"), null=True, blank=True, editable=False)
    case_code = models.CharField(_("drill case"), max_length=20, blank=True, editable=False)
    run_at = models.DateTimeField(_("run at"), null=True, blank=True, editable=False)
    run_by = models.CharField(_("run by"), max_length=64, blank=True, editable=False)
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=DrillOutcome.choices, blank=True, editable=False
    )
    lessons = models.TextField(_("lessons learned"), blank=True, editable=False)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True, editable=False)
    closed_by = models.CharField(_("closed by"), max_length=64, blank=True, editable=False)
    held_at = models.DateTimeField(_("held at"), null=True, blank=True, editable=False)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("drill")
        verbose_name_plural = _("drills")
        ordering = ["-scheduled_for", "-pk"]
        indexes = [
            models.Index(fields=["tenant", "state", "scheduled_for"], name="training_drill_state"),
            models.Index(fields=["tenant", "held_at"], name="training_drill_held"),
        ]

    def __str__(self) -> str:
        return self.title


# --- end of drills ---------------------------------------------------------------------

# ---------------------------------------------------------------------------------------
# Courses and pledges (issue 19, points 1-3; §4.1.2, §7.1, §7.2):
# Training (policy §4.1.2, §7.1, §7.2): courses, their versions, what people read and
# answered, and the staff's confidentiality pledge.
#
# - ``Course``: one per subject and tenant (``code``), saying which roles take it and how
#   often (once at induction, every N months, when a new version is published — whichever
#   comes first).
# - ``CourseVersion``: the immutable text of a course (``tenants.versioning``): titles,
#   lessons and the quiz in Chinese and English, and the pass mark. The quiz's answers are
#   stored here and read only by ``training.courses.score``.
# - ``LessonRead`` / ``QuizAttempt``: progress, per user and version; an attempt keeps the
#   order in which its questions and options were shown.
# - ``StaffPledge`` / ``PledgeSignature``: the staff's confidentiality pledge (riders sign
#   their own agreement in riders), signed with the exact text's hash, time and IP.
# ---------------------------------------------------------------------------------------


def _in(language: str) -> str:
    return "en" if language.startswith("en") else "zh"


class Course(TenantOwnedModel):
    code = models.SlugField(_("code"), max_length=40, db_index=False)
    roles = models.JSONField(_("roles"), default=list)
    induction = models.BooleanField(
        _("induction course"),
        default=False,
        help_text=_("Passing it lets staff sign the confidentiality pledge."),
    )
    renew_months = models.PositiveSmallIntegerField(
        _("renew every (months)"), null=True, blank=True
    )
    renew_on_new_version = models.BooleanField(_("renew on a new version"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("course")
        verbose_name_plural = _("courses")
        ordering = ["tenant", "code"]
        constraints = [models.UniqueConstraint(fields=["tenant", "code"], name="course_code")]

    def __str__(self) -> str:
        return self.code


class CourseVersion(VersionedDocument):
    course = models.ForeignKey(
        Course,
        on_delete=models.PROTECT,
        db_index=False,
        related_name="versions",
        verbose_name=_("course"),
    )
    title_zh = models.CharField(_("title (Chinese)"), max_length=200)
    title_en = models.CharField(_("title (English)"), max_length=200)
    # {"lessons": [{"title_zh", "title_en", "body_zh", "body_en", "images": [ids]}],
    #  "questions": [{"id", "multiple", "text_zh", "text_en",
    #                 "options": [{"id", "text_zh", "text_en", "correct"}]}]}
    content = models.JSONField(_("content"))
    pass_mark = models.PositiveSmallIntegerField(_("pass mark (%)"), default=80)

    class Meta(VersionedDocument.Meta):
        verbose_name = _("course version")
        verbose_name_plural = _("course versions")
        ordering = ["tenant", "course", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "course", "version"], name="course_version")
        ]

    def text_for(self, language: str) -> tuple[str, str]:
        return ("en", self.title_en) if _in(language) == "en" else ("zh-hans", self.title_zh)

    def title(self, language: str) -> str:
        return self.text_for(language)[1]

    def lessons(self, language: str) -> list[dict[str, Any]]:
        lang = _in(language)
        return [
            {
                "title": lesson[f"title_{lang}"],
                "body": lesson[f"body_{lang}"],
                "images": list(lesson.get("images", [])),  # LessonImage ids
            }
            for lesson in self.content.get("lessons", [])
        ]

    def questions(self) -> dict[str, dict[str, Any]]:
        return {q["id"]: q for q in self.content.get("questions", [])}


class LessonRead(TenantOwnedModel):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, db_index=False, related_name="+"
    )
    version = models.ForeignKey(CourseVersion, on_delete=models.PROTECT, db_index=False)
    lesson = models.PositiveSmallIntegerField()
    read_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("lesson read")
        verbose_name_plural = _("lessons read")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "user", "version", "lesson"], name="lesson_read_once"
            )
        ]


class QuizAttempt(TenantOwnedModel):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        db_index=False,
        related_name="+",
        verbose_name=_("user"),
    )
    version = models.ForeignKey(
        CourseVersion, on_delete=models.PROTECT, db_index=False, related_name="attempts"
    )
    # [[question id, [option ids in the order shown]], ...]
    shown = models.JSONField()
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    # {question id: [option ids chosen]}
    answers = models.JSONField(null=True, blank=True)
    # {question id: true/false}, after submitting
    results = models.JSONField(null=True, blank=True)
    score = models.PositiveSmallIntegerField(_("score"), null=True, blank=True)
    total = models.PositiveSmallIntegerField(_("questions"), default=0)
    passed = models.BooleanField(_("passed"), null=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("quiz attempt")
        verbose_name_plural = _("quiz attempts")
        indexes = [
            models.Index(fields=["tenant", "user", "version"], name="attempt_user"),
            models.Index(fields=["tenant", "version"], name="attempt_version"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.version_id}#{self.pk}"

    @property
    def percent(self) -> int:
        return round(100 * (self.score or 0) / self.total) if self.total else 0


class StaffPledge(VersionedDocument):
    """The staff's confidentiality pledge (§7.1.2), versioned; a new version needs a new
    signature from everyone."""

    text_zh = models.TextField(_("text (Chinese)"))
    text_en = models.TextField(_("text (English)"))

    class Meta(VersionedDocument.Meta):
        verbose_name = _("confidentiality pledge")
        verbose_name_plural = _("confidentiality pledges")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "version"], name="staff_pledge_version")
        ]

    def text_for(self, language: str) -> tuple[str, str]:
        return ("en", self.text_en) if _in(language) == "en" else ("zh-hans", self.text_zh)


class PledgeSignature(TenantOwnedModel):
    """Who signed which pledge version, when, from where, and a hash of the exact text."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        db_index=False,
        related_name="+",
        verbose_name=_("user"),
    )
    pledge = models.ForeignKey(
        StaffPledge, on_delete=models.PROTECT, db_index=False, verbose_name=_("pledge")
    )
    language = models.CharField(_("language"), max_length=8)
    text_sha256 = models.CharField(_("SHA-256 of the text"), max_length=64)
    signed_at = models.DateTimeField(_("signed at"), auto_now_add=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("pledge signature")
        verbose_name_plural = _("pledge signatures")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "user", "pledge"], name="pledge_signature_once"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "pledge"], name="pledge_signature_pledge")]

    def __str__(self) -> str:
        return f"{self.user_id}@v{self.pledge_id}"


# --- Lesson images (issue 19, point 1) -------------------------------------------------
# A picture a lesson shows (a correct and a wrong packing label...): a PNG, JPEG or WebP
# file stored locally under settings.LESSON_IMAGE_DIR/<tenant id>/<sha256> (content-
# addressed: the same bytes are one row per tenant), served only to the tenant's users by
# training.views_images. A lesson names its images by id (``lesson["images"]``). Images
# hold no personal data: the upload form says so. ``uploaded_by`` is an actor label.

LESSON_IMAGE_ALT_MAX_LENGTH = 200


class LessonImageType(models.TextChoices):
    PNG = "image/png", "PNG"
    JPEG = "image/jpeg", "JPEG"
    WEBP = "image/webp", "WebP"


class LessonImage(TenantOwnedModel):
    sha256 = models.CharField(_("SHA-256"), max_length=64, editable=False)
    content_type = models.CharField(
        _("type"), max_length=16, choices=LessonImageType.choices, editable=False
    )
    size = models.PositiveIntegerField(_("size (bytes)"), editable=False)
    width = models.PositiveIntegerField(_("width"), null=True, blank=True, editable=False)
    height = models.PositiveIntegerField(_("height"), null=True, blank=True, editable=False)
    alt_zh = models.CharField(_("description (Chinese)"), max_length=LESSON_IMAGE_ALT_MAX_LENGTH)
    alt_en = models.CharField(_("description (English)"), max_length=LESSON_IMAGE_ALT_MAX_LENGTH)
    uploaded_by = models.CharField(_("uploaded by"), max_length=64, editable=False)
    uploaded_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("lesson image")
        verbose_name_plural = _("lesson images")
        ordering = ["-uploaded_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "sha256"], name="lesson_image_sha256")
        ]

    def __str__(self) -> str:
        return self.alt_en or self.sha256[:12]

    def alt(self, language: str) -> str:
        return self.alt_en if _in(language) == "en" else self.alt_zh


# --- Case studies from closed incidents (issue 19, point 7) ----------------------------
# A course's case study, written by a tenant administrator or privacy officer from a closed
# (non-drill) incident case's structured facts (training.case_studies): a title and a text
# in both languages, whose form says not to write personal data. The case is held by id and
# code (incidents is a later layer: no foreign key across it).

CASE_STUDY_TITLE_MAX_LENGTH = 120
CASE_STUDY_BODY_MAX_LENGTH = 4000


class CourseCaseStudy(TenantOwnedModel):
    course = models.ForeignKey(
        Course, on_delete=models.PROTECT, db_index=False, related_name="case_studies"
    )
    title_zh = models.CharField(_("title (Chinese)"), max_length=CASE_STUDY_TITLE_MAX_LENGTH)
    title_en = models.CharField(_("title (English)"), max_length=CASE_STUDY_TITLE_MAX_LENGTH)
    body_zh = models.TextField(_("text (Chinese)"))
    body_en = models.TextField(_("text (English)"))
    source_case_id = models.BigIntegerField(_("incident case"), editable=False)
    source_case_code = models.CharField(_("incident case"), max_length=20, editable=False)
    added_by = models.CharField(_("added by"), max_length=64, editable=False)
    added_at = models.DateTimeField(_("added at"), auto_now_add=True)
    published = models.BooleanField(_("shown to learners"), default=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("case study")
        verbose_name_plural = _("case studies")
        ordering = ["course", "-added_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "course", "source_case_id"], name="case_study_once"
            )
        ]
        indexes = [models.Index(fields=["tenant", "course", "published"], name="case_study_course")]

    def __str__(self) -> str:
        return self.title_en

    def title(self, language: str) -> str:
        return self.title_en if _in(language) == "en" else self.title_zh

    def body(self, language: str) -> str:
        return self.body_en if _in(language) == "en" else self.body_zh


# --- Enrolments and reminders (issue 19, point 5) --------------------------------------
# ``Enrolment``: a course someone must take by a date — because they were given a role
# that requires it, because a version was published, or because their pass falls due
# (training.enrolments). Open until completed (a pass after it was made) or withdrawn
# (the role that required it is gone). At most one open enrolment per person and course.
# ``TrainingReminder``: one row per message sent about an enrolment — a reminder to the
# learner before the due date, an escalation to the tenant's administrators per week
# overdue. Its unique key (enrolment, kind, period) is claimed in the transaction that
# writes the notification, so a job run twice, or on two workers at once, sends once.
# ---------------------------------------------------------------------------------------


class EnrolmentReason(models.TextChoices):
    ROLE = "role", _("Role requires it")
    PUBLISHED = "published", _("New version published")
    RENEWAL = "renewal", _("Renewal due")


class Enrolment(TenantOwnedModel):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        db_index=False,
        related_name="+",
        verbose_name=_("user"),
    )
    course = models.ForeignKey(
        Course, on_delete=models.PROTECT, db_index=False, verbose_name=_("course")
    )
    # The course's current version when enrolled (0: none published yet).
    version = models.PositiveIntegerField(_("version"), default=0)
    reason = models.CharField(_("reason"), max_length=16, choices=EnrolmentReason.choices)
    created_at = models.DateTimeField(_("enrolled at"))
    due_at = models.DateTimeField(_("due by"))
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("enrolment")
        verbose_name_plural = _("enrolments")
        ordering = ["due_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "user", "course"],
                condition=models.Q(completed_at__isnull=True, withdrawn_at__isnull=True),
                name="enrolment_open_once",
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "course", "due_at"], name="enrolment_course_due"),
            models.Index(fields=["tenant", "user"], name="enrolment_user"),
        ]

    def __str__(self) -> str:
        return f"{self.course_id}@{self.user_id}#{self.pk}"


class ReminderKind(models.TextChoices):
    DUE_IN_7_DAYS = "due_7", _("Reminder a week before the due date")
    DUE_IN_1_DAY = "due_1", _("Reminder a day before the due date")
    OVERDUE = "overdue", _("Escalation of overdue training")


class TrainingReminder(TenantOwnedModel):
    enrolment = models.ForeignKey(
        Enrolment, on_delete=models.CASCADE, db_index=False, related_name="reminders"
    )
    kind = models.CharField(max_length=8, choices=ReminderKind.choices)
    # 0 for reminders; for escalations the week overdue (0 = the first seven days).
    period = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField()

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("training reminder")
        verbose_name_plural = _("training reminders")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "enrolment", "kind", "period"], name="training_reminder_once"
            )
        ]


class GateGeneration(TenantOwnedModel):
    """The tenant's reveal-gate generation (training.gates): a random number that every
    save of a course, a course version or a pledge renews, in the same transaction as the
    save. An
    open gate decision kept in a process's memory names the generation it was computed
    under and is used only while that is still the tenant's; the reveal confirms it in the
    statement that records the reveal (no round trip of its own). One row per tenant,
    created by the first renewal (no row reads as 0)."""

    value = models.BigIntegerField(_("generation"), default=0)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("training gate generation")
        verbose_name_plural = _("training gate generations")
        constraints = [models.UniqueConstraint(fields=["tenant"], name="gate_generation_tenant")]
