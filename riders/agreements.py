"""The confidentiality agreement: a tenant administrator publishes its next version, a rider
signs the current one (versions through tenants.versioning; reads in riders.selectors)."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from audits.services import record_event
from riders.models import AgreementSignature, ConfidentialityAgreement, Rider
from tenants.actors import Actor
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tenants.versioning import publish_bilingual_text, require_current, text_sha256


def publish_agreement(
    *, tenant: Tenant, actor: Actor, text_zh: str, text_en: str
) -> ConfidentialityAgreement:
    return publish_bilingual_text(
        ConfidentialityAgreement,
        tenant=tenant,
        actor=actor,
        text_zh=text_zh,
        text_en=text_en,
        refusal=_("Only a tenant administrator publishes the agreement."),
        record=lambda agreement: record_event(
            tenant=tenant,
            actor=actor,
            action="riders.agreement_published",
            target=agreement,
            details={"version": agreement.version},
        ),
    )


def sign_agreement(
    *, rider: Rider, version: int, language: str, ip: str | None
) -> AgreementSignature:
    with transaction.atomic(), tenant_scope(rider.tenant_id):
        agreement = require_current(
            ConfidentialityAgreement,
            rider.tenant_id,
            version,
            _("This agreement version is no longer current; read the new one."),
        )
        shown_language, text = agreement.text_for(language)
        signature, _created = AgreementSignature.objects.get_or_create(
            tenant_id=rider.tenant_id,
            rider=rider,
            agreement=agreement,
            defaults={
                "language": shown_language,
                "ip": ip,
                "text_sha256": text_sha256(text),
            },
        )
        record_event(
            tenant=rider.tenant,
            actor=rider.user,
            action="riders.agreement_signed",
            target=signature,
            details={"version": agreement.version, "language": shown_language},
        )
    return signature
