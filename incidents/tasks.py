from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from tenants.tasks import ScheduledJob


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
