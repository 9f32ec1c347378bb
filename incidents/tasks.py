from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import shared_task
from django.utils import timezone

from tenants.models import Tenant
from tenants.tasks import ScheduledJob, TenantTask


@shared_task(acks_late=True, ignore_result=True)
def match_report_challenge(challenge_id: str) -> bool:
    """Match a privacy-report challenge to an order (or a report) and text a one-time code."""
    from incidents.reports import match_challenge

    return match_challenge(challenge_id)


@shared_task(base=ScheduledJob, acks_late=True, ignore_result=True)
def purge_report_challenges() -> int:
    """Delete privacy-report challenges older than a day (their codes expire after 10
    minutes)."""
    from incidents.models import ReportChallenge

    deleted, _ = ReportChallenge.objects.filter(
        created_at__lt=timezone.now() - timedelta(days=1)
    ).delete()
    return deleted


@shared_task(base=ScheduledJob, acks_late=True, ignore_result=True)
def check_case_clocks() -> dict[str, int]:
    """Every 5 minutes: escalate incident-report clocks running out and flag overdue ones
    (incidents/clocks.py). No arguments: it walks the active tenants itself."""
    from incidents.clocks import check_all_clocks

    return check_all_clocks()


@shared_task(base=TenantTask, bind=True, acks_late=True, ignore_result=True, max_retries=None)
def send_case_notice(self: Any, tenant: Tenant, notice_id: int) -> dict[str, int]:
    """Text an approved incident notice to the case's affected customers (ids only in the
    arguments). Failed deliveries are tried again later, with a growing delay, while they
    have attempts left (incidents.notices.MAX_ATTEMPTS bounds them, not Celery)."""
    from incidents.notices import retry_delay, send_notice

    result = send_notice(notice_id=notice_id)
    if result.retry:
        raise self.retry(countdown=retry_delay(self.request.retries))
    return {"sent": result.sent, "failed": result.failed, "drill": result.drill}
