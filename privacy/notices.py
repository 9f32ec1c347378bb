"""Privacy notices: publishing a tenant's next version (``tenants.versioning``) and
recording which version a customer was shown. Reads are in ``privacy.selectors``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.services import record_event
from privacy.errors import RevealDenied
from privacy.models import DataSubject, NoticeChannel, NoticeRecord, PrivacyNotice
from privacy.selectors import notice_version
from tenants.actors import Actor, actor_label
from tenants.bulk import insert_rows
from tenants.models import Role, Tenant, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope
from tenants.versioning import publish_next_version

NOTICE_TEXT_FIELDS = ("purpose_zh", "purpose_en", "scope_zh", "scope_en", "use_zh", "use_en")


def publish_notice(
    *, tenant: Tenant, actor: Actor, retention_days: int, **texts: str
) -> PrivacyNotice:
    """Publish the next version of ``tenant``'s privacy notice (versions never change)."""
    if isinstance(actor, User) and (
        actor.tenant_id != tenant.pk or not has_role(actor, Role.TENANT_ADMIN, Role.PRIVACY_OFFICER)
    ):
        raise RevealDenied(_("Only a tenant administrator or privacy officer may publish notices."))
    missing = [f for f in NOTICE_TEXT_FIELDS if not str(texts.get(f, "")).strip()]
    unknown = set(texts) - set(NOTICE_TEXT_FIELDS)
    errors: dict[str, Any] = {f: _("This field is required.") for f in missing}
    errors.update({f: _("Unknown field.") for f in unknown})
    if not isinstance(retention_days, int) or not 0 <= retention_days <= 365:
        errors["retention_days"] = _("Between 0 and 365 days.")
    if errors:
        raise ValidationError(errors)
    values = {
        "retention_days": retention_days,
        **{f: texts[f].strip() for f in NOTICE_TEXT_FIELDS},
    }
    return publish_next_version(
        PrivacyNotice,
        tenant=tenant,
        actor=actor,
        values=values,
        record=lambda notice: record_event(
            tenant=tenant,
            actor=actor,
            action="privacy.notice_published",
            target=notice,
            details={"version": notice.version},
        ),
    )


def record_notice_shown(
    *,
    tenant: Tenant,
    version: Any,
    subject: DataSubject | None,
    channel: str,
    actor: Actor,
    shown_at: Any = None,
) -> NoticeRecord:
    """Record that the customer was shown notice ``version`` (a number, or the notice
    ``notice_version`` returned); unknown versions are refused."""
    record = notice_record(
        tenant=tenant,
        version=version,
        subject=subject,
        channel=channel,
        actor=actor,
        shown_at=shown_at,
    )
    with tenant_scope(tenant):
        insert_rows(NoticeRecord, [record])
    return record


def notice_record(
    *,
    tenant: Tenant,
    version: Any,
    subject: DataSubject | None,
    channel: str,
    actor: Actor,
    shown_at: Any = None,
) -> NoticeRecord:
    """The checked, unsaved record of ``record_notice_shown``, for a caller that writes it
    within a statement of its own (intake)."""
    if channel not in NoticeChannel.values:
        raise ValidationError({"channel": _("Unknown channel.")})
    if isinstance(version, PrivacyNotice) and version.tenant_id == tenant.pk:
        notice = version
    else:
        notice = notice_version(tenant, version)
    return NoticeRecord(
        tenant=tenant,
        notice=notice,
        subject=subject,
        channel=channel,
        shown_at=shown_at or timezone.now(),
        recorded_by=actor_label(actor),
    )
