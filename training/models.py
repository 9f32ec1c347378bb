"""Training: courses, quizzes, pledges (issue 19) and drills."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from tenants.models import TenantOwnedModel

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
