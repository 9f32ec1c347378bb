"""The vault's reads: scoped queries that write nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from privacy.keys import LRU
from privacy.models import PrivacyNotice, RetentionPolicy
from tenants.models import ScheduledRun, Tenant
from tenants.scoping import tenant_scope
from tenants.versioning import current_version

# The beat job that makes the nightly backups (privacy.tasks.nightly_backup is named so).
NIGHTLY_BACKUP_JOB = "privacy.tasks.nightly_backup"


def current_notice(tenant: Tenant) -> PrivacyNotice | None:
    return current_version(PrivacyNotice, tenant)


_notices = LRU(1024, ttl=300)


def notice_version(tenant: Tenant, version: Any) -> PrivacyNotice:
    """The tenant's notice ``version``; a ValidationError naming the field otherwise."""
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValidationError({"privacy_notice_version": _("Must be a whole number.")})
    notice = cast(PrivacyNotice | None, _notices.get((tenant.pk, version)))
    if notice is None:
        with tenant_scope(tenant):
            notice = PrivacyNotice.objects.filter(version=version).first()
        if notice is not None:  # published versions never change: keep it for a while
            _notices.put((tenant.pk, version), notice)
    if notice is None:
        raise ValidationError(
            {"privacy_notice_version": _("Unknown privacy notice version %(v)s.") % {"v": version}}
        )
    return notice


def last_verified_backup() -> datetime | None:
    """When the last nightly backup run finished with its backups verified."""
    return (
        ScheduledRun.objects.filter(
            job=NIGHTLY_BACKUP_JOB, status=ScheduledRun.Status.DONE, detail__verified=True
        )
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )


def retention_days(tenant: Tenant) -> int:
    with tenant_scope(tenant):
        policy = RetentionPolicy.objects.first()
    return policy.days if policy is not None else 7
