"""The staff's confidentiality pledge (§7.1.2): a tenant administrator publishes its next
version; a staff member signs the current one after passing the induction course, as a
rider signs the agreement (exact text hash, time, IP). A new version needs a new
signature."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext as _

from audits.services import record_event
from tenants.actors import Actor
from tenants.models import Tenant, User
from tenants.roles import roles_of, works_in_back_office
from tenants.scoping import tenant_scope
from tenants.versioning import (
    current_version,
    publish_bilingual_text,
    require_current,
    text_sha256,
)
from training.models import PledgeSignature, StaffPledge


def publish_pledge(*, tenant: Tenant, actor: Actor, text_zh: str, text_en: str) -> StaffPledge:
    return publish_bilingual_text(
        StaffPledge,
        tenant=tenant,
        actor=actor,
        text_zh=text_zh,
        text_en=text_en,
        refusal=_("Only a tenant administrator publishes the pledge."),
        record=lambda pledge: record_event(
            tenant=tenant,
            actor=actor,
            action="training.pledge_published",
            target=pledge,
            details={"version": pledge.version},
        ),
    )


def current_pledge(tenant: Tenant | int) -> StaffPledge | None:
    return current_version(StaffPledge, tenant)


def must_pledge(user: User) -> bool:
    """Staff roles sign the pledge; a rider's pledge is the rider agreement."""
    return works_in_back_office(roles_of(user))


def pledge_to_sign(user: User) -> StaffPledge | None:
    """The current pledge if ``user`` must sign it and has not signed it yet."""
    if user.tenant_id is None or not must_pledge(user):
        return None
    pledge = current_pledge(user.tenant_id)
    if pledge is None:
        return None
    with tenant_scope(user.tenant_id):
        signed = PledgeSignature.objects.filter(user=user, pledge=pledge).exists()
    return None if signed else pledge


def sign_pledge(*, user: User, version: int, language: str, ip: str | None) -> PledgeSignature:
    """Sign the current version: refused (``PermissionDenied``) before the induction course
    is passed; ``Conflict`` if ``version`` is no longer current."""
    from training.clearance import induction_passed  # clearance reads pledges too

    if user.tenant_id is None or not must_pledge(user):
        raise PermissionDenied(_("The staff pledge is for staff; riders sign the agreement."))
    if not induction_passed(user):
        raise PermissionDenied(_("Pass the induction course first, then sign the pledge."))
    with transaction.atomic(), tenant_scope(user.tenant_id):
        pledge = require_current(
            StaffPledge,
            user.tenant_id,
            version,
            _("This pledge version is no longer current; read the new one."),
        )
        shown_language, text = pledge.text_for(language)
        signature, _created = PledgeSignature.objects.get_or_create(
            tenant_id=user.tenant_id,
            user=user,
            pledge=pledge,
            defaults={"language": shown_language, "ip": ip, "text_sha256": text_sha256(text)},
        )
        record_event(
            tenant=pledge.tenant,
            actor=user,
            action="training.pledge_signed",
            target=signature,
            details={"version": pledge.version, "language": shown_language},
        )
    return signature
