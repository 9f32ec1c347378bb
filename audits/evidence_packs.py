"""Evidence packs for a PIPL art. 54 audit (issue 20, point 6): requesting one, finding
one, and where its archive lives. The archive is built in the background
(audits.evidence_build, queued on commit through audits.evidence_tasks) from the sections
the apps register (audits.pack_sections); the back office is audits.evidence_admin.

Who: supervisors, privacy officers and tenant administrators of the tenant
(``audits.panels.SUPERVISORS``) request and download packs."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from audits import evidence_tasks
from audits.models import EvidencePack, EvidencePackState
from audits.panels import may_supervise
from audits.periods import EARLIEST
from audits.services import record_event
from tenants.models import Tenant, User

#: The longest period one pack covers (a leap year).
MAX_DAYS = 366
#: The pack list shows this many packs, newest first.
LIST_LIMIT = 50


def may_handle_packs(user: object, tenant: Tenant | None) -> bool:
    return tenant is not None and may_supervise(user, tenant)


def check_period(first_day: date, last_day: date, *, today: date) -> None:
    """``ValidationError`` naming the field (``start``/``end``) of a period a pack cannot
    cover: reversed, longer than MAX_DAYS, starting in the future, or before the earliest
    day the dashboard's picker accepts (a day near year 1 overflows a date computation)."""
    if last_day < first_day:
        raise ValidationError({"end": _("The end date is before the start date.")})
    if (last_day - first_day).days + 1 > MAX_DAYS:
        raise ValidationError(
            {"end": _("A pack covers at most %(days)s days.") % {"days": MAX_DAYS}}
        )
    if first_day > today:
        raise ValidationError({"start": _("The start date is in the future.")})
    if first_day < EARLIEST:
        raise ValidationError(
            {"start": _("The start date is before %(day)s.") % {"day": EARLIEST.isoformat()}}
        )


def request_evidence_pack(
    *, tenant: Tenant, actor: User, first_day: date, last_day: date, language: str
) -> tuple[EvidencePack, bool]:
    """Queue a pack of ``tenant`` for the local days ``first_day`` to ``last_day`` (both
    included), written in ``language``; audited (``evidence.pack_requested``), built after
    the commit. The same person asking again for the same period while their pack is
    queued or running gets that pack (``created`` False): a double submit makes one job."""
    if not may_handle_packs(actor, tenant):
        raise PermissionDenied(
            _("Evidence packs are for supervisors, privacy officers and tenant administrators.")
        )
    check_period(first_day, last_day, today=timezone.localdate(timezone=tenant.zone))
    language = "en" if language.startswith("en") else "zh-hans"
    with transaction.atomic():
        pending = _pending(tenant, actor, first_day, last_day)
        if pending is not None:
            return pending, False
        try:
            with transaction.atomic():
                pack = EvidencePack.objects.create(
                    tenant=tenant,
                    period_start=first_day,
                    period_end=last_day,
                    requested_by=actor,
                    language=language,
                )
        except IntegrityError:  # a concurrent twin won the unique constraint
            pending = _pending(tenant, actor, first_day, last_day)
            if pending is None:
                raise
            return pending, False
        record_event(
            tenant=tenant,
            actor=actor,
            action="evidence.pack_requested",
            target=pack,
            details={
                "pack": pack.pk,
                "start": first_day.isoformat(),
                "end": last_day.isoformat(),
            },
        )
        evidence_tasks.build_evidence_pack.delay_on_commit(tenant.pk, pack.pk)
    return pack, True


def _pending(tenant: Tenant, actor: User, first_day: date, last_day: date) -> EvidencePack | None:
    return (
        EvidencePack.objects.filter(
            tenant=tenant,
            requested_by=actor,
            period_start=first_day,
            period_end=last_day,
            state__in=(EvidencePackState.QUEUED, EvidencePackState.RUNNING),
        )
        .order_by("-pk")
        .first()
    )


# --- selectors ---------------------------------------------------------------------------


def packs_of(tenant: Tenant) -> list[EvidencePack]:
    """The tenant's newest packs with their requesters: one query."""
    return list(
        EvidencePack.objects.filter(tenant=tenant)
        .select_related("requested_by")
        .order_by("-requested_at", "-pk")[:LIST_LIMIT]
    )


def pack_of(tenant: Tenant, pack_id: int) -> EvidencePack:
    """The tenant's pack ``pack_id``; ``Http404`` for another tenant's or an unknown one."""
    pack = EvidencePack.objects.filter(tenant=tenant, pk=pack_id).first()
    if pack is None or pack.tenant_id != tenant.pk:
        raise Http404(_("No such evidence pack."))
    return pack


def archive_path(pack: EvidencePack) -> Path:
    """Where the pack's archive is (``pack.path`` under EVIDENCE_PACK_DIR)."""
    return Path(settings.EVIDENCE_PACK_DIR) / pack.path


def download_name(pack: EvidencePack) -> str:
    return Path(pack.path).name


def record_download(*, tenant: Tenant, actor: User, pack: EvidencePack) -> None:
    """The download of a done pack, audited (``evidence.pack_downloaded``)."""
    if not may_handle_packs(actor, tenant):
        raise PermissionDenied
    with transaction.atomic():
        record_event(
            tenant=tenant,
            actor=actor,
            action="evidence.pack_downloaded",
            target=pack,
            details={"pack": pack.pk, "sha256": pack.sha256},
        )


def days_in(pack: EvidencePack) -> int:
    return (pack.period_end - pack.period_start + timedelta(days=1)).days
