"""The daily inspections job (``audits.inspections.tasks``), per tenant:

- each open follow-up that has become overdue (its due date before the tenant's today)
  is notified once to its owner and the tenant's supervisors: the job claims it by setting
  ``overdue_notified_at`` with a conditional update, in the same transaction as the
  notifications (``inspections.follow_up_overdue``, with a ``dedup_key`` too) and the
  audit event, so a run repeated, or two at once, notifies once;
- each recurring inspection whose next date is within ``RECURRENCE_LEAD`` days gets that
  occurrence planned, with a fresh checklist from the registry. ``recurs_from`` is unique
  per tenant: a run repeated, or two at once, never plans two occurrences of one date.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from audits.inspections.services import do_plan_inspection, local_today
from audits.models import Finding, FollowUp, FollowUpState, Inspection
from audits.panels import SUPERVISORS
from audits.services import record_event
from tenants.actors import Actor, SystemActor
from tenants.models import Tenant
from tenants.notifications import notify, register_kind
from tenants.scoping import tenant_scope

JOB_ACTOR = SystemActor("inspections")
#: A recurring inspection's next occurrence is planned this many days ahead of its date.
RECURRENCE_LEAD = datetime.timedelta(days=14)
FOLLOW_UP_OVERDUE = "inspections.follow_up_overdue"


def _overdue_message(params: dict[str, Any]) -> str:
    return _("Inspection follow-up overdue since %(date)s: §%(clause)s") % {
        "date": date_format(datetime.date.fromisoformat(params["due"]), "DATE_FORMAT"),
        "clause": params["clause"],
    }


def register_kinds() -> None:
    """From audits' AppConfig.ready()."""
    register_kind(FOLLOW_UP_OVERDUE, _overdue_message)


def notify_overdue_follow_ups(
    tenant: Tenant, *, now: datetime.datetime | None = None, actor: Actor = JOB_ACTOR
) -> int:
    """Notify each follow-up of ``tenant`` that is overdue and not yet notified; the
    number notified by this run."""
    now = now or timezone.now()
    today = local_today(tenant, now)
    sent = 0
    with tenant_scope(tenant):
        due = list(
            FollowUp.objects.filter(
                state=FollowUpState.OPEN, due_on__lt=today, overdue_notified_at__isnull=True
            ).values_list("pk", flat=True)[:1000]
        )
        for pk in due:
            with transaction.atomic():
                claimed = FollowUp.objects.filter(
                    pk=pk, state=FollowUpState.OPEN, overdue_notified_at__isnull=True
                ).update(overdue_notified_at=now)
                if not claimed:
                    continue
                follow_up = FollowUp.objects.get(pk=pk)
                finding = Finding.objects.select_related("item").get(pk=follow_up.finding_id)
                link = reverse("admin:audits_followup_change", args=[pk])
                notified = notify(
                    tenant,
                    users=[follow_up.owner_id],
                    roles=SUPERVISORS,
                    kind=FOLLOW_UP_OVERDUE,
                    params={"clause": finding.item.clause, "due": follow_up.due_on.isoformat()},
                    link=link,
                    dedup_key=f"inspections:overdue:{pk}",
                )
                record_event(
                    tenant=tenant,
                    actor=actor,
                    action="inspections.follow_up_overdue",
                    target=follow_up,
                    details={
                        "follow_up": pk,
                        "inspection": finding.item.inspection_id,
                        "clause": finding.item.clause,
                        "owner": follow_up.owner_id,
                        "due_on": follow_up.due_on.isoformat(),
                        "notified": len(notified),
                    },
                )
                sent += 1
    return sent


def plan_next_occurrences(
    tenant: Tenant, *, now: datetime.datetime | None = None, actor: Actor = JOB_ACTOR
) -> int:
    """Plan the next occurrence of each recurring inspection of ``tenant`` whose next date
    is within ``RECURRENCE_LEAD``; the number planned by this run."""
    today = local_today(tenant, now)
    planned = 0
    with tenant_scope(tenant):
        succeeded = Inspection.objects.filter(recurs_from__isnull=False).values("recurs_from")
        candidates = list(
            Inspection.objects.exclude(recurrence="")
            .filter(next_date__isnull=False, next_date__lte=today + RECURRENCE_LEAD)
            .exclude(pk__in=succeeded)
            .order_by("next_date", "pk")[:500]
        )
        for source in candidates:
            try:
                with transaction.atomic():
                    locked = Inspection.objects.select_for_update(of=("self",)).get(pk=source.pk)
                    if Inspection.objects.filter(recurs_from=locked.pk).exists():
                        continue
                    assert locked.next_date is not None  # noqa: S101 - filtered above
                    do_plan_inspection(
                        tenant=tenant,
                        actor=actor,
                        title=locked.title,
                        scope=locked.scope,
                        planned_for=locked.next_date,
                        inspector=locked.inspector_id,
                        recurrence=locked.recurrence,
                        recurs_from=locked,
                    )
            except IntegrityError:  # another run planned it at the same moment
                continue
            planned += 1
    return planned


def run_tenant_inspection_jobs(
    tenant: Tenant, *, now: datetime.datetime | None = None
) -> dict[str, int]:
    """The daily job's body for one tenant."""
    now = now or timezone.now()
    return {
        "overdue_notified": notify_overdue_follow_ups(tenant, now=now),
        "occurrences_planned": plan_next_occurrences(tenant, now=now),
    }
