"""The evidence pack's erasure section (issue 20, point 6; audits.pack_sections): the
erasure requests received, due or completed in the period — with their deadline and
whether it was kept —, the erasures done (the erasure ledger: reference, reason, by whom,
how many records) and the retention sweeps that ran. Ids, references, usernames and
labels only: never a customer's data (the request's free-text evidence is left out)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from django.db.models import Count, F, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audits.evidence_values import People
from audits.pack_sections import PackFile, PackSection, register_pack_section
from audits.panels import Period
from privacy.models import ErasureLedgerEntry, ErasureReason, ErasureRequest, RequestStatus
from tenants.models import ScheduledRun, Tenant

SWEEP_JOB = "privacy.tasks.retention_sweep"

REQUEST_HEADER = (
    gettext_lazy("request"),
    gettext_lazy("channel"),
    gettext_lazy("status"),
    gettext_lazy("received at"),
    gettext_lazy("answer due by"),
    gettext_lazy("completed at"),
    gettext_lazy("deadline"),
    gettext_lazy("handled by"),
    gettext_lazy("ledger reference"),
)
LEDGER_HEADER = (
    gettext_lazy("reference"),
    gettext_lazy("erased at"),
    gettext_lazy("reason"),
    gettext_lazy("erased by"),
    gettext_lazy("records cleared"),
)
SWEEP_HEADER = (
    gettext_lazy("period"),
    gettext_lazy("started at"),
    gettext_lazy("finished at"),
    gettext_lazy("status"),
)


def _requests(tenant: Tenant, period: Period) -> Any:
    inside = Q(received_at__gte=period.start, received_at__lt=period.end)
    due = Q(due_at__gte=period.start, due_at__lt=period.end)
    done = Q(completed_at__gte=period.start, completed_at__lt=period.end)
    return ErasureRequest.objects.filter(inside | due | done, tenant=tenant)


def _deadline(request: ErasureRequest, period: Period) -> str:
    if request.completed_at is not None:
        return _("kept") if request.completed_at <= request.due_at else _("late")
    if request.status == RequestStatus.REJECTED:
        return _("not verified")
    return _("overdue") if request.due_at < period.end else _("open")


def _request_rows(tenant: Tenant, period: Period) -> Iterator[Sequence[Any]]:
    people = People(tenant)
    rows = list(
        _requests(tenant, period)
        .select_related("ledger_entry")
        .order_by("received_at", "pk")
        .only(
            "pk",
            "channel",
            "status",
            "received_at",
            "due_at",
            "completed_at",
            "handled_by",
            "ledger_entry__reference",
        )
    )
    people.load(r.handled_by for r in rows)
    for request in rows:
        yield (
            request.pk,
            request.get_channel_display(),
            request.get_status_display(),
            request.received_at,
            request.due_at,
            request.completed_at,
            _deadline(request, period),
            people.of(request.handled_by)[0] if request.handled_by else "",
            request.ledger_entry.reference if request.ledger_entry else "",
        )


def _ledger(tenant: Tenant, period: Period) -> Any:
    return ErasureLedgerEntry.objects.filter(
        tenant=tenant, erased_at__gte=period.start, erased_at__lt=period.end
    )


def _ledger_rows(tenant: Tenant, period: Period) -> Iterator[Sequence[Any]]:
    people = People(tenant)
    after = None
    while True:
        page = _ledger(tenant, period).order_by("pk")
        if after is not None:
            page = page.filter(pk__gt=after)
        chunk = list(page.only("pk", "reference", "erased_at", "reason", "actor", "records")[:1000])
        if not chunk:
            return
        after = chunk[-1].pk
        people.load(e.actor for e in chunk)
        for entry in chunk:
            yield (
                entry.reference,
                entry.erased_at,
                entry.get_reason_display(),
                people.of(entry.actor)[0],
                entry.records,
            )


def _sweeps(period: Period) -> list[ScheduledRun]:
    # A platform record (one sweep walks every tenant), not tenant-owned: no scope needed.
    return list(
        ScheduledRun.objects.filter(
            job=SWEEP_JOB, period__gte=period.start, period__lt=period.end
        ).order_by("period")
    )


def erasures(tenant: Tenant, period: Period) -> PackSection:
    requests = _requests(tenant, period)
    done_in = Q(completed_at__gte=period.start, completed_at__lt=period.end)
    counts = requests.aggregate(
        received=Count("pk", filter=Q(received_at__gte=period.start, received_at__lt=period.end)),
        due=Count("pk", filter=Q(due_at__gte=period.start, due_at__lt=period.end)),
        completed=Count("pk", filter=done_in),
        late=Count("pk", filter=done_in & Q(completed_at__gt=F("due_at"))),
        overdue=Count(
            "pk",
            filter=Q(completed_at__isnull=True, due_at__lt=period.end)
            & ~Q(status=RequestStatus.REJECTED),
        ),
    )
    ledger = _ledger(tenant, period).aggregate(
        total=Count("pk"), retention=Count("pk", filter=Q(reason=ErasureReason.RETENTION))
    )
    sweeps = _sweeps(period)
    sweep_rows = [
        (run.period, run.started_at, run.finished_at, run.get_status_display()) for run in sweeps
    ]
    return PackSection(
        files=[
            PackFile("erasure_requests.csv", REQUEST_HEADER, _request_rows(tenant, period)),
            PackFile("erasures_done.csv", LEDGER_HEADER, _ledger_rows(tenant, period)),
            PackFile("retention_sweeps.csv", SWEEP_HEADER, sweep_rows),
        ],
        summary=[
            (gettext_lazy("Erasure requests received"), counts["received"]),
            (gettext_lazy("Erasure requests due"), counts["due"]),
            (gettext_lazy("Erasure requests completed"), counts["completed"]),
            (gettext_lazy("of which after their deadline"), counts["late"]),
            (gettext_lazy("Requests overdue and not completed"), counts["overdue"]),
            (gettext_lazy("Customers erased (ledger)"), ledger["total"]),
            (gettext_lazy("of which at the end of the retention period"), ledger["retention"]),
            (gettext_lazy("Retention sweeps run"), len(sweeps)),
        ],
        notes=[
            gettext_lazy(
                "A request is listed when it was received, due or completed in the period. "
                "The erasure ledger names erased customers by a reference only."
            )
        ],
    )


def register() -> None:
    register_pack_section(
        "privacy.erasures", title=gettext_lazy("Erasures due and done"), order=20, build=erasures
    )
