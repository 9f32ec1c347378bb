"""What the vault shows on the supervisor dashboard (issue 20): the erasure panel and the
compliance indicators of §2.4.1 (erasure after the retention period), §2.4.2 (erasure on
request) and §2.2.2 (backups). Registered from ``PrivacyConfig.ready()`` into audits'
registries (audits imports nothing of privacy).

Reads only, inside the request's (or the evaluation's) tenant scope, each one indexed
query: the pending requests by ``(tenant, status, due_at)``, the ledger by ``(tenant,
erased_at)``, the scheduled runs by their unique ``(job, period)``, the audit log by
``(tenant, action)``. Counts, dates and links; never a subject's data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, Min, Q
from django.db.models.functions import TruncDate
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from audits.charts import Series, bar_chart
from audits.compliance import Indicator, Status
from audits.links import followable
from audits.models import AuditEvent
from audits.panels import Period
from audits.shared_reads import shared
from privacy.models import ErasureLedgerEntry, ErasureReason, ErasureRequest, RequestStatus
from privacy.selectors import last_verified_backup
from tenants.models import ScheduledRun, Tenant

RETENTION_JOB = "privacy.tasks.retention_sweep"
RECONCILE_JOB = "privacy.tasks.reconcile_erasure_ledger"
#: The hourly jobs count as late after this long without a finished run.
HOURLY_LATE = timedelta(hours=2)
LEDGER_ALERTS = ("privacy.ledger_damaged", "privacy.ledger_write_failed")
#: The erasures' reasons that answer a customer's request.
REQUESTED = (ErasureReason.CUSTOMER_REQUEST, ErasureReason.STAFF_REQUEST)


def _list_url(name: str, **params: str) -> str:
    query = urlencode({k: v for k, v in params.items() if v})
    return reverse(name) + (f"?{query}" if query else "")


def _days(period: Period) -> list[date]:
    first, last = period.first_day, period.last_day
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@dataclass(frozen=True)
class Requests:
    overdue: int
    upcoming: int
    next_due: datetime | None


def pending_requests(tenant: Tenant, now: datetime) -> Requests:
    """The pending erasure requests past and before their deadline: one query (once per
    dashboard page, audits.shared_reads)."""
    return shared(("privacy.pending_requests", tenant.pk), lambda: _pending_requests(tenant, now))


def _pending_requests(tenant: Tenant, now: datetime) -> Requests:
    row = ErasureRequest.objects.filter(tenant=tenant, status=RequestStatus.PENDING).aggregate(
        overdue=Count("pk", filter=Q(due_at__lt=now)),
        upcoming=Count("pk", filter=Q(due_at__gte=now)),
        next_due=Min("due_at", filter=Q(due_at__gte=now)),
    )
    return Requests(row["overdue"], row["upcoming"], row["next_due"])


def erasures_per_day(tenant: Tenant, period: Period) -> dict[tuple[date, str], int]:
    """(local day, reason) → erasures in the ledger over ``period``: one query (once per
    dashboard page)."""
    return shared(("privacy.erasures_per_day", tenant.pk, period), lambda: _per_day(tenant, period))


def _per_day(tenant: Tenant, period: Period) -> dict[tuple[date, str], int]:
    rows = (
        ErasureLedgerEntry.objects.filter(
            tenant=tenant, erased_at__gte=period.start, erased_at__lt=period.end
        )
        .annotate(day=TruncDate("erased_at", tzinfo=timezone.get_current_timezone()))
        .values_list("day", "reason")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {(day, reason): n for day, reason, n in rows}


def last_run(job: str) -> ScheduledRun | None:
    """The latest period's run of the platform job ``job`` (the unique (job, period) index),
    once per dashboard page."""
    return shared(
        ("privacy.last_run", job),
        lambda: ScheduledRun.objects.filter(job=job).order_by("-period").first(),
    )


def ledger_alerts(period: Period) -> dict[str, int]:
    """The erasure ledger's alerts in the tenant's log over ``period``: one query."""
    rows = (
        AuditEvent.objects.filter(
            action__in=LEDGER_ALERTS, occurred_at__gte=period.start, occurred_at__lt=period.end
        )
        .values_list("action")
        .annotate(n=Count("pk"))
        .order_by()
    )
    found = dict(rows)
    return {action: found.get(action, 0) for action in LEDGER_ALERTS}


def backup_is_fresh(last: datetime | None, now: datetime) -> bool:
    return last is not None and now - last <= timedelta(hours=settings.BAOMI_BACKUP_ALERT_HOURS)


def _run_state(run: ScheduledRun | None, now: datetime) -> str:
    if run is None:
        return "none"
    if run.status == ScheduledRun.Status.FAILED:
        return "failed"
    if run.finished_at is None or now - run.finished_at > HOURLY_LATE:
        return "late"
    return "ok"


def erasure_panel(request: HttpRequest, tenant: Tenant, period: Period) -> dict[str, Any]:
    """The dashboard's erasure panel: requests due and overdue, erasures (sweeps and
    requests) per day over the period, the ledger's health, the last verified backup. A
    link the reader may not follow is left out (``audits.links.followable``)."""

    allowed: dict[str, bool] = {}

    def _url(name: str, **params: str) -> str:
        if name not in allowed:  # once per list, not per figure
            allowed[name] = bool(followable(request, reverse(name)))
        return _list_url(name, **params) if allowed[name] else ""

    now = timezone.now()
    since, until = period.first_day.isoformat(), period.last_day.isoformat()
    requests = pending_requests(tenant, now)
    per_day = erasures_per_day(tenant, period)
    days = _days(period)
    ledger_list = "admin:privacy_erasureledgerentry_changelist"
    series = [
        Series(
            label=str(ErasureReason(reason).label),
            data=[per_day.get((day, reason), 0) for day in days],
            links=[
                _url(ledger_list, reason__exact=reason, since=d, until=d)
                for d in (day.isoformat() for day in days)
            ],
            link=_url(ledger_list, reason__exact=reason, since=since, until=until),
        )
        for reason in ErasureReason.values
    ]
    totals = {
        reason: sum(n for (_day, r), n in per_day.items() if r == reason)
        for reason in ErasureReason.values
    }
    sweep, reconcile = last_run(RETENTION_JOB), last_run(RECONCILE_JOB)
    alerts = ledger_alerts(period)
    backup = shared("privacy.last_verified_backup", last_verified_backup)
    audit_list = "admin:audits_auditevent_changelist"
    return {
        "overdue": requests.overdue,
        "overdue_url": _url("admin:privacy_erasurerequest_changelist", due="overdue"),
        "upcoming": requests.upcoming,
        "upcoming_url": _url("admin:privacy_erasurerequest_changelist", due="upcoming"),
        "next_due": requests.next_due,
        "swept": totals[ErasureReason.RETENTION],
        "swept_url": _url(
            ledger_list, reason__exact=ErasureReason.RETENTION, since=since, until=until
        ),
        "requested": sum(totals[r] for r in REQUESTED),
        "ledger_url": _url(ledger_list, since=since, until=until),
        "erased": sum(totals.values()),
        "chart": bar_chart(
            caption=_("Erasures per day, by reason"),
            labels=[d.strftime("%m-%d") for d in days],
            datasets=series,
            axis=_("Day"),
        ),
        "sweep_state": _run_state(sweep, now),
        "sweep_at": sweep.finished_at if sweep else None,
        "reconcile_state": _run_state(reconcile, now),
        "reconcile_at": reconcile.finished_at if reconcile else None,
        "ledger_alerts": [
            {
                "action": action,
                "n": n,
                "url": _url(audit_list, action=action, since=since, until=until),
            }
            for action, n in alerts.items()
        ],
        "ledger_healthy": _run_state(reconcile, now) == "ok" and not any(alerts.values()),
        "backup_at": backup,
        "backup_fresh": backup_is_fresh(backup, now),
        "backup_url": _url(audit_list, action="privacy.backup_overdue", since=since, until=until),
    }


# --- compliance indicators -----------------------------------------------------------------


def retention_indicator(tenant: Tenant, period: Period) -> Indicator:
    """§2.4.1: the hourly sweep erases every customer whose retention period is over."""
    now = timezone.now()
    sweep = last_run(RETENTION_JOB)
    state = _run_state(sweep, now)
    swept = sum(
        n
        for (_day, reason), n in erasures_per_day(tenant, period).items()
        if reason == ErasureReason.RETENTION
    )
    figure = ngettext(
        "%(n)d customer erased after the retention period",
        "%(n)d customers erased after the retention period",
        swept,
    ) % {"n": swept}
    if state == "ok":
        status, when = Status.OK, _("the hourly sweep ran on time")
    elif state == "failed":
        status, when = Status.FAILING, _("the last sweep failed")
    elif state == "late":
        status, when = Status.ATTENTION, _("the hourly sweep is late")
    else:
        status, when = Status.ATTENTION, _("no sweep has run yet")
    link = _list_url(
        "admin:privacy_erasureledgerentry_changelist",
        reason__exact=ErasureReason.RETENTION,
        since=period.first_day.isoformat(),
        until=period.last_day.isoformat(),
    )
    return Indicator(status, f"{figure}; {when}", link)


def requests_indicator(tenant: Tenant, period: Period) -> Indicator:
    """§2.4.2: a customer's request is answered by its deadline."""
    requests = pending_requests(tenant, timezone.now())
    if requests.overdue:
        return Indicator(
            Status.FAILING,
            ngettext(
                "%(n)d overdue erasure request", "%(n)d overdue erasure requests", requests.overdue
            )
            % {"n": requests.overdue},
            _list_url("admin:privacy_erasurerequest_changelist", due="overdue"),
        )
    return Indicator(
        Status.OK,
        ngettext(
            "0 overdue erasure requests; %(n)d waiting, within its deadline",
            "0 overdue erasure requests; %(n)d waiting, within their deadline",
            requests.upcoming,
        )
        % {"n": requests.upcoming},
        _list_url("admin:privacy_erasurerequest_changelist", due="upcoming"),
    )


def backup_indicator(tenant: Tenant, period: Period) -> Indicator:
    """§2.2.2: the data are backed up regularly (a verified nightly backup)."""
    now = timezone.now()
    last = shared("privacy.last_verified_backup", last_verified_backup)
    link = _list_url(
        "admin:audits_auditevent_changelist",
        action="privacy.backup_overdue",
        since=period.first_day.isoformat(),
        until=period.last_day.isoformat(),
    )
    if last is None:
        return Indicator(Status.FAILING, _("No verified backup yet"), link)
    shown = timezone.localtime(last).strftime("%Y-%m-%d %H:%M")
    if backup_is_fresh(last, now):
        return Indicator(Status.OK, _("Last verified backup %(at)s") % {"at": shown}, link)
    return Indicator(
        Status.FAILING,
        _("Last verified backup %(at)s: older than %(hours)d hours")
        % {"at": shown, "hours": settings.BAOMI_BACKUP_ALERT_HOURS},
        link,
    )


def register() -> None:
    """From ``PrivacyConfig.ready()``."""
    from django.utils.translation import gettext_lazy

    from audits.compliance import register_indicator
    from audits.panels import SUPERVISORS, register_panel

    register_panel(
        "privacy.erasure",
        title=gettext_lazy("Erasure and backups"),
        roles=SUPERVISORS,
        order=30,
        template="privacy/panels/erasure.html",
        context=erasure_panel,
    )
    register_indicator(
        "privacy.backups",
        clause="2.2.2",
        title=gettext_lazy("Data backed up regularly"),
        order=222,
        compute=backup_indicator,
    )
    register_indicator(
        "privacy.retention",
        clause="2.4.1",
        title=gettext_lazy("Data erased once no longer needed"),
        order=241,
        compute=retention_indicator,
    )
    register_indicator(
        "privacy.erasure_requests",
        clause="2.4.2",
        title=gettext_lazy("Erasure on the customer's request"),
        order=242,
        compute=requests_indicator,
    )
