"""The reads of inspections: tenant-scoped querysets with what their pages need, so each
page is a bounded number of queries. Callers run inside the tenant's scope."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Count, Max, Q, QuerySet

from audits.inspections.services import local_today, may_supervise
from audits.models import (
    EvidenceFile,
    FindingResult,
    FollowUp,
    FollowUpState,
    Inspection,
    InspectionItem,
    InspectionState,
)
from core.ids import parse_id
from tenants.models import Tenant, User
from tenants.scoping import tenant_scope

#: "Upcoming" on the dashboard: planned within this many days.
UPCOMING_DAYS = 30
ACTIVE_STATES = (InspectionState.PLANNED, InspectionState.IN_PROGRESS)


def overdue_inspections(queryset: QuerySet[Inspection], today: datetime.date) -> QuerySet:
    """Not completed, and planned before ``today``."""
    return queryset.filter(state__in=ACTIVE_STATES, planned_for__lt=today)


def overdue_follow_ups(queryset: QuerySet[FollowUp], today: datetime.date) -> QuerySet:
    """Open, and due before ``today``."""
    return queryset.filter(state=FollowUpState.OPEN, due_on__lt=today)


def inspection_for(user: object, tenant: Tenant | None, inspection_id: object) -> Inspection | None:
    """The tenant's inspection for one of its supervisors; anything else is None (404)."""
    if tenant is None or not may_supervise(user, tenant.pk):
        return None
    number = parse_id(inspection_id)
    if number is None:
        return None
    with tenant_scope(tenant):
        return Inspection.objects.select_related("inspector", "tenant").filter(pk=number).first()


def follow_up_for(user: object, tenant: Tenant | None, follow_up_id: object) -> FollowUp | None:
    """The tenant's follow-up for a supervisor or its owner; anything else is None."""
    if tenant is None or not isinstance(user, User) or user.tenant_id != tenant.pk:
        return None
    number = parse_id(follow_up_id)
    if number is None:
        return None
    with tenant_scope(tenant):
        follow_up = (
            FollowUp.objects.select_related(
                "owner", "done_by", "finding__item__inspection", "tenant"
            )
            .filter(pk=number)
            .first()
        )
    if follow_up is None:
        return None
    if may_supervise(user, tenant.pk) or follow_up.owner_id == user.pk:
        return follow_up
    return None


def evidence_for(user: object, tenant: Tenant | None, evidence_id: object) -> EvidenceFile | None:
    """An evidence file of the tenant's, for its supervisors only; anything else None."""
    if tenant is None or not may_supervise(user, tenant.pk):
        return None
    number = parse_id(evidence_id)
    if number is None:
        return None
    with tenant_scope(tenant):
        return EvidenceFile.objects.select_related("finding__item").filter(pk=number).first()


def checklist_of(inspection: Inspection) -> list[InspectionItem]:
    """The inspection's items in order, each with ``found`` (its finding or None), the
    finding's evidence and follow-up: four queries whatever the length."""
    with tenant_scope(inspection.tenant_id):
        items = list(
            InspectionItem.objects.filter(inspection_id=inspection.pk)
            .prefetch_related(
                "findings__recorded_by", "findings__evidence", "findings__follow_ups__owner"
            )
            .order_by("position")
        )
    for item in items:
        found = next(iter(item.findings.all()), None)
        if found is not None:
            found.follow_up = next(iter(found.follow_ups.all()), None)
        item.found = found
    return items


@dataclass(frozen=True)
class InspectionCounts:
    upcoming: int
    overdue: int
    open_follow_ups: int
    overdue_follow_ups: int
    last_completed: datetime.datetime | None


def counts_of(tenant: Tenant, *, now: datetime.datetime | None = None) -> InspectionCounts:
    """The dashboard's figures: two queries on indexed columns."""
    today = local_today(tenant, now)
    with tenant_scope(tenant):
        inspections = Inspection.objects.aggregate(
            upcoming=Count(
                "pk",
                filter=Q(
                    state__in=ACTIVE_STATES,
                    planned_for__gte=today,
                    planned_for__lte=today + datetime.timedelta(days=UPCOMING_DAYS),
                ),
            ),
            overdue=Count("pk", filter=Q(state__in=ACTIVE_STATES, planned_for__lt=today)),
            last=Max("completed_at"),
        )
        follow_ups = FollowUp.objects.filter(state=FollowUpState.OPEN).aggregate(
            open=Count("pk"), overdue=Count("pk", filter=Q(due_on__lt=today))
        )
    return InspectionCounts(
        upcoming=inspections["upcoming"],
        overdue=inspections["overdue"],
        open_follow_ups=follow_ups["open"],
        overdue_follow_ups=follow_ups["overdue"],
        last_completed=inspections["last"],
    )


def failed_count(inspection: Inspection) -> int:
    with tenant_scope(inspection.tenant_id):
        return InspectionItem.objects.filter(
            inspection_id=inspection.pk, findings__result=FindingResult.FAIL
        ).count()
