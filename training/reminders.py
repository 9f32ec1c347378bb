"""Training reminders and escalations (issue 19, point 5), sent by the daily beat job
(``training.tasks.send_training_reminders``, one task per tenant with its id only).

For each open enrolment (training.enrolments):

- before the due date, the learner is reminded: once when it is due within seven days, once
  when it is due within a day (``REMINDERS``). A run that finds it due within a day sends
  only the later reminder; each at most once per enrolment.
- once it is overdue, the tenant's administrators (the ``tenant_admin`` role) are told, once
  per ``ESCALATION_PERIOD`` (seven days) overdue: period 0 is the first seven days after
  the due date, period 1 the next seven, and so on, until it is completed or withdrawn.

Each message is claimed by a ``TrainingReminder`` row (enrolment, kind, period) written in
the same transaction as the notification and its audit event, under the enrolment's row
lock: a run repeated, or two at once on two workers, sends each message once. Messages
are a registered notification kind with codes only (the course's code, a date, and for
the administrators the learner's username), linking to the course page (the learner) or
the back office's enrolment list of the course (the administrators).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from audits.services import record_event
from tenants.actors import Actor, SystemActor
from tenants.models import Role, Tenant
from tenants.notifications import notify, register_kind
from tenants.scoping import tenant_scope
from training.enrolments import refresh_enrolments
from training.models import Enrolment, ReminderKind, TrainingReminder

REMINDER_ACTOR = SystemActor("training-reminders")
# The reminders before the due date, the latest first.
REMINDERS = (
    (ReminderKind.DUE_IN_1_DAY, timedelta(days=1)),
    (ReminderKind.DUE_IN_7_DAYS, timedelta(days=7)),
)
ESCALATION_PERIOD = timedelta(days=7)
ESCALATE_TO = (Role.TENANT_ADMIN,)
USERNAME_PARAM_MAX = 64  # notification parameters are short codes

TRAINING_DUE = "training.due"
TRAINING_OVERDUE = "training.overdue"


def _day(value: str) -> str:
    return date_format(date.fromisoformat(value), "DATE_FORMAT")


def _due(params: dict[str, Any]) -> str:
    return _("Training due by %(date)s: %(course)s") % {
        "date": _day(params["due"]),
        "course": params["course"],
    }


def _overdue(params: dict[str, Any]) -> str:
    return _("Training overdue since %(date)s: %(user)s has not completed %(course)s") % {
        "date": _day(params["due"]),
        "course": params["course"],
        "user": params["user"],
    }


def register_kinds() -> None:
    """From training's AppConfig.ready()."""
    register_kind(TRAINING_DUE, _due)
    register_kind(TRAINING_OVERDUE, _overdue)


def _wanted(due_at: datetime, now: datetime) -> tuple[str, int] | None:
    """The message an enrolment due at ``due_at`` calls for at ``now``: (kind, period)."""
    if now >= due_at:
        return ReminderKind.OVERDUE, (now - due_at) // ESCALATION_PERIOD
    for kind, ahead in REMINDERS:
        if due_at - now <= ahead:
            return kind, 0
    return None


def _already(sent: set[tuple[int, str, int]], pk: int, kind: str, period: int) -> bool:
    if (pk, kind, period) in sent:
        return True
    # The week's reminder is moot once the day's went out.
    return kind == ReminderKind.DUE_IN_7_DAYS and (pk, ReminderKind.DUE_IN_1_DAY, 0) in sent


def send_reminders(
    tenant: Tenant, *, now: datetime | None = None, actor: Actor = REMINDER_ACTOR
) -> dict[str, int]:
    """Send ``tenant``'s reminders and escalations due at ``now`` (see the module). Two
    queries to find them; each message sent is one transaction."""
    now = now or timezone.now()
    reminded = escalated = 0
    with tenant_scope(tenant):
        candidates = list(
            Enrolment.objects.filter(
                completed_at__isnull=True,
                withdrawn_at__isnull=True,
                due_at__lte=now + max(ahead for _kind, ahead in REMINDERS),
            ).select_related("user", "course")
        )
        sent = set(
            TrainingReminder.objects.filter(enrolment__in=[e.pk for e in candidates]).values_list(
                "enrolment_id", "kind", "period"
            )
        )
        for enrolment in candidates:
            wanted = _wanted(enrolment.due_at, now)
            if wanted is None or _already(sent, enrolment.pk, *wanted):
                continue
            kind, period = wanted
            if _send(tenant, enrolment, kind, period, now=now, actor=actor):
                if kind == ReminderKind.OVERDUE:
                    escalated += 1
                else:
                    reminded += 1
    return {"reminded": reminded, "escalated": escalated}


def _send(
    tenant: Tenant, enrolment: Enrolment, kind: str, period: int, *, now: datetime, actor: Actor
) -> bool:
    """Claim (enrolment, kind, period) and send it, in one transaction; False when the
    enrolment closed meanwhile or another run claimed it first."""
    with transaction.atomic():
        still_open = (
            Enrolment.objects.select_for_update(of=("self",))
            .filter(pk=enrolment.pk, completed_at__isnull=True, withdrawn_at__isnull=True)
            .exists()
        )
        if not still_open:
            return False
        _reminder, created = TrainingReminder.objects.get_or_create(
            tenant=tenant,
            enrolment=enrolment,
            kind=kind,
            period=period,
            defaults={"sent_at": now},
        )
        if not created:
            return False
        course = enrolment.course
        due = timezone.localtime(enrolment.due_at, tenant.zone).date().isoformat()
        key = f"training:{kind}:{enrolment.pk}:{period}"
        if kind == ReminderKind.OVERDUE:
            link = reverse("admin:training_enrolment_changelist")
            notified = notify(
                tenant,
                roles=ESCALATE_TO,
                kind=TRAINING_OVERDUE,
                params={
                    "course": course.code,
                    "due": due,
                    "user": enrolment.user.username[:USERNAME_PARAM_MAX],
                },
                link=f"{link}?course={course.pk}&state=overdue",
                dedup_key=key,
            )
            action = "training.training_escalated"
        else:
            notified = notify(
                tenant,
                users=[enrolment.user_id],
                kind=TRAINING_DUE,
                params={"course": course.code, "due": due},
                link=reverse("training:course", args=[course.code]),
                dedup_key=key,
            )
            action = "training.reminder_sent"
        record_event(
            tenant=tenant,
            actor=actor,
            action=action,
            target=enrolment,
            details={
                "enrolment": enrolment.pk,
                "course": course.code,
                "user": enrolment.user_id,
                "kind": kind,
                "period": period,
                "notified": len(notified),
            },
        )
    return True


def run_tenant_reminders(tenant: Tenant, *, now: datetime | None = None) -> dict[str, int]:
    """The beat job's body for one tenant: refresh its enrolments, then send what is due."""
    now = now or timezone.now()
    return {
        **refresh_enrolments(tenant, now=now, actor=REMINDER_ACTOR),
        **send_reminders(tenant, now=now, actor=REMINDER_ACTOR),
    }
