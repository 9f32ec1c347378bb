"""The audit actions training writes."""

from django.utils.translation import gettext_lazy as _

from core.audit_registry import AuditAction, AuditCategory

NAMESPACES = ("training",)

ACTIONS: list[AuditAction] = []

# --- Drills (issue 19, point 6; training/drills.py) --------------------------------------
# ``drill`` is the drill's id, ``case`` the incident case's id; counts, never names.
ACTIONS += [
    AuditAction(
        "training.drill_planned",
        _("Drill planned"),
        AuditCategory.INCIDENTS,
        frozenset({"drill", "scenario", "roles", "participants"}),
    ),
    AuditAction(
        "training.drill_run",
        _("Drill run as an incident case"),
        AuditCategory.INCIDENTS,
        frozenset({"drill", "case", "case_code"}),
    ),
    AuditAction(
        "training.drill_closed",
        _("Drill closed with lessons learned"),
        AuditCategory.INCIDENTS,
        frozenset({"drill", "outcome", "case"}),
    ),
]

# --- Courses and pledges (issue 19, points 1-3; training/courses.py, pledges.py) ---------
_SECURITY = AuditCategory.SECURITY

ACTIONS += [
    AuditAction(
        "training.course_created", _("Course created"), _SECURITY, frozenset({"code", "roles"})
    ),
    AuditAction(
        "training.course_published",
        _("Course version published"),
        _SECURITY,
        frozenset({"course", "version"}),
    ),
    AuditAction(
        "training.attempt_started",
        _("Quiz attempt started"),
        _SECURITY,
        frozenset({"course", "version"}),
    ),
    AuditAction(
        "training.attempt_submitted",
        _("Quiz attempt submitted"),
        _SECURITY,
        frozenset({"course", "version", "score", "total", "passed"}),
    ),
    AuditAction(
        "training.pledge_published",
        _("Confidentiality pledge published"),
        _SECURITY,
        frozenset({"version"}),
    ),
    AuditAction(
        "training.pledge_signed",
        _("Confidentiality pledge signed"),
        _SECURITY,
        frozenset({"version", "language"}),
    ),
]

# --- Lesson images (issue 19, point 1; training/lesson_images.py) ------------------------
ACTIONS += [
    AuditAction(
        "training.lesson_image_uploaded",
        _("Lesson image uploaded"),
        _SECURITY,
        frozenset({"image", "sha256", "size"}),
    ),
]

# --- Coverage and case studies (issue 19, point 7; training/coverage.py, case_studies.py) -
# Who looked at the coverage (the filters and how many people were listed, never who);
# a case study by ids and codes, never its text.
ACTIONS += [
    AuditAction(
        "training.coverage_viewed",
        _("Training coverage viewed"),
        _SECURITY,
        frozenset({"role", "state", "course", "people"}),
    ),
    AuditAction(
        "training.case_study_added",
        _("Case study attached to a course"),
        _SECURITY,
        frozenset({"case_study", "course", "case", "case_code"}),
    ),
]

# --- Enrolments and reminders (issue 19, point 5; training/enrolments.py, reminders.py) --
# ``users``/``user`` are user ids, ``enrolment`` an enrolment's id; never names.
ACTIONS += [
    AuditAction(
        "training.enrolled",
        _("Enrolled in a course"),
        _SECURITY,
        frozenset({"course", "version", "reason", "users"}),
    ),
    AuditAction(
        "training.enrolments_withdrawn",
        _("Enrolments withdrawn (role no longer requires the course)"),
        _SECURITY,
        frozenset({"course", "users"}),
    ),
    AuditAction(
        "training.reminder_sent",
        _("Training reminder sent"),
        _SECURITY,
        frozenset({"enrolment", "course", "user", "kind", "period", "notified"}),
    ),
    AuditAction(
        "training.training_escalated",
        _("Overdue training escalated to the tenant administrators"),
        _SECURITY,
        frozenset({"enrolment", "course", "user", "kind", "period", "notified"}),
    ),
]
