"""Customers' online erasure requests: order code + phone, a one-time code by SMS, then
erasure at once. The page answers the same way whether or not the details match: matching
and sending happen in a task, and a request that matches nothing simply never verifies."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.services import record_event
from core.errors import Conflict
from core.hashing import keyed_hash, keyed_hash_matches
from privacy.erasure import erase_subject
from privacy.erasure_requests import mark_completed, request_deadline
from privacy.models import (
    ErasureChallenge,
    ErasureReason,
    ErasureRequest,
    RequestChannel,
)
from privacy.permissions import Purpose
from privacy.phone import normalise_phone
from privacy.registry import reference_resolvers
from privacy.reveal import reveal
from privacy.sms import sms_backend
from privacy.tasks import match_erasure_challenge
from tenants.actors import SystemActor
from tenants.counters import within_limit
from tenants.scoping import tenant_scope
from tenants.selectors import iter_tenants

CODE_LIFETIME = timedelta(minutes=10)
MAX_ATTEMPTS = 5
PER_IP_PER_HOUR = 10
PER_PHONE_PER_HOUR = 5
_ORDER_CODE = re.compile(r"^[0-9A-Z]{5}-?[0-9A-Z]{5}$")
VERIFIER = SystemActor("erasure-verification")


class RateLimited(Exception):
    pass


def _count(name: str, limit: int) -> bool:
    """Count one use of ``name`` this hour; False once over ``limit``. Raises
    CountersUnavailable when Redis is down (the page answers "try again shortly")."""
    return within_limit(f"erasure-{name}", limit=limit, window=3600)


def start_request(*, order_code: Any, phone: Any, ip: str | None) -> ErasureChallenge:
    """Validate the form, rate-limit, record the challenge and queue the matching task.
    Raises ValidationError (malformed input, the same for every order), RateLimited, or
    CountersUnavailable (Redis is down; nothing was recorded)."""
    errors: dict[str, str] = {}
    code = re.sub(r"\s", "", str(order_code or "")).upper()
    if not _ORDER_CODE.match(code):
        errors["order_code"] = _(
            "Enter the order code as printed on the receipt, e.g. 7K3Q9-XD2M4."
        )
    try:
        normal = normalise_phone(str(phone or ""))
    except ValidationError as error:
        errors["phone"] = error.messages[0]
    if errors:
        raise ValidationError(errors)
    phone_hash = keyed_hash("erasure-phone", normal)
    if not _count(f"ip:{keyed_hash('erasure-ip', ip or '-')}", PER_IP_PER_HOUR) or not _count(
        f"phone:{phone_hash}", PER_PHONE_PER_HOUR
    ):
        raise RateLimited()
    challenge = ErasureChallenge(
        order_code=code if "-" in code else f"{code[:5]}-{code[5:]}", phone_hash=phone_hash
    )
    challenge.save(force_insert=True)
    match_erasure_challenge.delay_on_commit(str(challenge.id))
    return challenge


def match_challenge(challenge_id: UUID | str) -> bool:
    """In the worker: find the order by code in each tenant, compare the phone's keyed hash,
    and if they match send a one-time code. True when a code was sent."""
    challenge = ErasureChallenge.objects.filter(pk=challenge_id, otp_hash="").first()
    if challenge is None:
        return False
    for tenant in iter_tenants(active_only=True):
        with tenant_scope(tenant):
            for resolve in reference_resolvers():
                record = resolve(tenant, challenge.order_code)
                if record is None:
                    continue
                phone = reveal(
                    record, fields=["phone"], actor=VERIFIER, purpose=Purpose.IDENTITY_VERIFICATION
                )["phone"]
                if not keyed_hash_matches(challenge.phone_hash, "erasure-phone", phone):
                    continue
                otp = f"{secrets.randbelow(10**6):06d}"
                challenge.tenant, challenge.subject_id = tenant, record.subject_id
                challenge.otp_hash = keyed_hash("erasure-otp", challenge.pk, otp)
                challenge.otp_expires_at = timezone.now() + CODE_LIFETIME
                challenge.save(update_fields=["tenant", "subject_id", "otp_hash", "otp_expires_at"])
                sms_backend().send(
                    phone=phone,
                    text=_(
                        "Baomi: your code to erase your data is %(code)s. "
                        "It is valid for 10 minutes."
                    )
                    % {"code": otp},
                )
                record_event(
                    tenant=tenant,
                    actor=VERIFIER,
                    action="privacy.erasure_code_sent",
                    object_type="privacy.datasubject",
                    object_id=str(record.subject_id),
                )
                return True
    return False


def verify_request(*, challenge_id: UUID | str, code: Any) -> str:
    """Check the one-time code; on success erase at once and return the reference.
    Raises Conflict (expired, too many attempts) or ValidationError (wrong code)."""
    candidate = str(code or "").strip()
    with transaction.atomic():
        challenge = ErasureChallenge.objects.select_for_update().filter(pk=challenge_id).first()
        if challenge is None:
            raise Conflict(_("This request has expired; start again."))
        expires = challenge.otp_expires_at or challenge.created_at + CODE_LIFETIME
        if timezone.now() > expires or challenge.attempts >= MAX_ATTEMPTS:
            raise Conflict(_("This code has expired or was tried too often; start again."))
        challenge.attempts += 1
        challenge.save(update_fields=["attempts"])
        valid = (
            bool(challenge.otp_hash)
            and re.fullmatch(r"\d{6}", candidate) is not None
            and keyed_hash_matches(challenge.otp_hash, "erasure-otp", challenge.pk, candidate)
        )
        if valid:
            # Single use: the code is spent before the erasure runs, under the row lock.
            challenge.otp_hash, challenge.phone_hash = "", ""
            challenge.save(update_fields=["otp_hash", "phone_hash"])
    if not valid or challenge.tenant is None or challenge.subject_id is None:
        left = MAX_ATTEMPTS - challenge.attempts
        raise ValidationError(
            {"code": _("That code is not right. %(n)d attempts left.") % {"n": left}}
        )
    tenant = challenge.tenant
    now = timezone.now()
    with tenant_scope(tenant):
        request = ErasureRequest(
            tenant=tenant,
            channel=RequestChannel.WEB,
            subject_id=challenge.subject_id,
            evidence="one-time code sent to the order's phone",
            due_at=now + request_deadline(),
            handled_by=str(VERIFIER),
        )
        request.save(force_insert=True)
    entry = erase_subject(
        tenant=tenant,
        subject_id=challenge.subject_id,
        reason=ErasureReason.CUSTOMER_REQUEST,
        actor=VERIFIER,
    )
    with tenant_scope(tenant):
        mark_completed(request, entry)
        ErasureChallenge.objects.filter(pk=challenge.pk).update(request=request, subject_id=None)
    return entry.reference if entry else ""
