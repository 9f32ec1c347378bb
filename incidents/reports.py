"""Customers report privacy problems (§6.2): the public pages' services and staff triage.

Identity is checked as on the public erasure page (privacy.online_erasure): the order code
(or, to read a report's status, the tracking code) then a one-time code texted to the phone
on the order. The page answers the same way whether or not the code matches anything:
matching and texting happen in a task, and a challenge that matched nothing never verifies.
Codes are stored as keyed hashes and compared in constant time; the tracking code is shown
once and only its keyed hash is kept. The customer's description is sealed under their key
(privacy.api.seal): staff read it through the vault's audited reveal."""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.services import record_event
from core.errors import Conflict
from core.hashing import keyed_hash, keyed_hash_matches
from incidents.models import (
    ANSWER_MAX_LENGTH,
    DESCRIPTION_MAX_LENGTH,
    PrivacyReport,
    ReportChallenge,
    ReportKind,
    ReportStatus,
)
from orders.models import Order
from orders.selectors import order_with_code
from privacy.api import (
    Purpose,
    RevealDenied,
    SmsNotSent,
    SubjectErasedError,
    VaultError,
    seal,
    text_customer,
)
from tenants.actors import Actor, SystemActor, actor_label
from tenants.counters import within_limit
from tenants.models import Role, Tenant, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope
from tenants.selectors import iter_tenants

CODE_LIFETIME = timedelta(minutes=10)
MAX_ATTEMPTS = 5
PER_IP_PER_HOUR = 10
PER_CODE_PER_HOUR = 5
VERIFIER = SystemActor("privacy-report-verification")
TRIAGERS = (Role.CUSTOMER_SERVICE, Role.PRIVACY_OFFICER)
_ORDER_CODE = re.compile(r"^[0-9A-Z]{5}-?[0-9A-Z]{5}$")
_TRACKING_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_TRACKING = re.compile(r"^[2-9A-HJKMNP-Z]{12}$")

# Allowed status moves by staff (answering is its own step, with the answer).
MOVES = {
    ReportStatus.RECEIVED: (ReportStatus.IN_PROGRESS, ReportStatus.CLOSED),
    ReportStatus.IN_PROGRESS: (ReportStatus.CLOSED,),
    ReportStatus.ANSWERED: (ReportStatus.IN_PROGRESS, ReportStatus.CLOSED),
    ReportStatus.CLOSED: (),
}


class RateLimited(Exception):
    pass


def report_deadline(tenant: Tenant | None = None) -> timedelta:
    """The time a tenant gives itself to answer a report: its own setting (the tenant
    settings page), else settings.BAOMI_PRIVACY_REPORT_DAYS — never longer than that (a
    tenant may only shorten it; a longer value set before the cap is capped)."""
    platform = int(getattr(settings, "BAOMI_PRIVACY_REPORT_DAYS", 15))
    days = tenant.privacy_report_days if tenant is not None else None
    return timedelta(days=min(days, platform) if days else platform)


def public_tenant(slug: Any) -> Tenant | None:
    """The active tenant a public page's URL names, or None (the page is then a 404: a
    tenant's name is public, an order code is not, and nothing here touches orders)."""
    return Tenant.objects.filter(slug=str(slug or ""), is_active=True).first()


def _count(name: str, limit: int) -> bool:
    """One use of ``name`` this hour; False once over ``limit``. Raises CountersUnavailable
    when Redis is down (the page answers "try again shortly")."""
    return within_limit(f"privacy-report-{name}", limit=limit, window=3600)


def _limit(ip: str | None, key: str) -> None:
    if not _count(f"ip:{keyed_hash('privacy-report-ip', ip or '-')}", PER_IP_PER_HOUR) or not (
        _count(f"code:{key}", PER_CODE_PER_HOUR)
    ):
        raise RateLimited()


def normal_tracking_code(value: Any) -> str:
    return re.sub(r"[\s-]", "", str(value or "")).upper()


def tracking_hash(code: str) -> str:
    return keyed_hash("privacy-report-tracking", normal_tracking_code(code))


def start_filing(
    *, order_code: Any, ip: str | None, brand: Tenant | None = None
) -> ReportChallenge:
    """Step 1: validate the order code, rate-limit, record the challenge and queue the task
    that texts a code to the order's phone. Raises ValidationError (malformed code: the same
    for every order), RateLimited or CountersUnavailable."""
    code = re.sub(r"\s", "", str(order_code or "")).upper()
    if not _ORDER_CODE.match(code):
        raise ValidationError(
            {"order_code": _("Enter the order code as printed on the receipt, e.g. 7K3Q9-XD2M4.")}
        )
    code = code if "-" in code else f"{code[:5]}-{code[5:]}"
    _limit(ip, keyed_hash("privacy-report-order", code))
    challenge = ReportChallenge(purpose=ReportChallenge.FILE, order_code=code, brand=brand)
    challenge.save(force_insert=True)
    _queue(challenge)
    return challenge


def start_status(*, tracking_code: Any, ip: str | None) -> ReportChallenge:
    """The status page's step 1: the tracking code, then a fresh one-time code by SMS."""
    code = normal_tracking_code(tracking_code)
    if not _TRACKING.match(code):
        raise ValidationError(
            {"tracking_code": _("Enter the tracking code you were given, e.g. 7K3Q-XD2M-4PZA.")}
        )
    hashed = tracking_hash(code)
    _limit(ip, hashed)
    challenge = ReportChallenge(purpose=ReportChallenge.STATUS, tracking_hash=hashed)
    challenge.save(force_insert=True)
    _queue(challenge)
    return challenge


def _queue(challenge: ReportChallenge) -> None:
    from incidents.tasks import match_report_challenge

    match_report_challenge.delay_on_commit(str(challenge.id))


def _find(challenge: ReportChallenge) -> tuple[Order, PrivacyReport | None] | None:
    tenants = iter_tenants(active_only=True)
    if challenge.brand_id is not None:  # the tenant's own page: its orders only
        tenants = (t for t in tenants if t.pk == challenge.brand_id)
    for tenant in tenants:
        with tenant_scope(tenant):
            if challenge.purpose == ReportChallenge.FILE:
                order = order_with_code(tenant, challenge.order_code)
                if order is not None:
                    return order, None
            else:
                report = (
                    PrivacyReport.objects.filter(tracking_hash=challenge.tracking_hash)
                    .select_related("order", "tenant")
                    .first()
                )
                if report is not None:
                    return report.order, report
    return None


def match_challenge(challenge_id: UUID | str) -> bool:
    """In the worker: find the order (or the report) in each tenant and text the order's
    phone a one-time code through the vault. True when a code was sent."""
    challenge = ReportChallenge.objects.filter(pk=challenge_id, otp_hash="").first()
    if challenge is None:
        return False
    found = _find(challenge)
    if found is None:
        return False
    order, report = found
    otp = f"{secrets.randbelow(10**6):06d}"
    challenge.tenant, challenge.order_ref = order.tenant, order.pk
    challenge.report_ref = report.pk if report else None
    challenge.otp_hash = keyed_hash("privacy-report-otp", challenge.pk, otp)
    challenge.otp_expires_at = timezone.now() + CODE_LIFETIME
    challenge.save(
        update_fields=["tenant", "order_ref", "report_ref", "otp_hash", "otp_expires_at"]
    )
    try:
        with tenant_scope(order.tenant):
            text_customer(
                order,
                actor=VERIFIER,
                purpose=Purpose.IDENTITY_VERIFICATION,
                text=_(
                    "Baomi: your code to report a privacy problem is %(code)s. "
                    "It is valid for 10 minutes."
                )
                % {"code": otp},
            )
    except (SmsNotSent, VaultError, RevealDenied):
        # An erased customer or a failed gateway: the challenge simply never verifies.
        ReportChallenge.objects.filter(pk=challenge.pk).update(otp_hash="")
        return False
    return True


def _check_code(challenge_id: UUID | str, code: Any) -> ReportChallenge:
    """Spend a one-time code: the verified challenge, or Conflict (expired, too many
    attempts: a lockout) or ValidationError (wrong code, with the attempts left)."""
    candidate = str(code or "").strip()
    with transaction.atomic():
        challenge = ReportChallenge.objects.select_for_update().filter(pk=challenge_id).first()
        if challenge is None or challenge.verified_at is not None:
            raise Conflict(_("This request has expired; start again."))
        expires = challenge.otp_expires_at or challenge.created_at + CODE_LIFETIME
        if timezone.now() > expires or challenge.attempts >= MAX_ATTEMPTS:
            raise Conflict(_("This code has expired or was tried too often; start again."))
        challenge.attempts += 1
        valid = (
            bool(challenge.otp_hash)
            and re.fullmatch(r"\d{6}", candidate) is not None
            and keyed_hash_matches(
                challenge.otp_hash, "privacy-report-otp", challenge.pk, candidate
            )
            and challenge.tenant_id is not None
        )
        if valid:
            # Single use: spent under the row lock.
            challenge.otp_hash, challenge.verified_at = "", timezone.now()
        challenge.save(update_fields=["attempts", "otp_hash", "verified_at"])
    if not valid:
        left = MAX_ATTEMPTS - challenge.attempts
        raise ValidationError(
            {"code": _("That code is not right. %(n)d attempts left.") % {"n": left}}
        )
    return challenge


def clean_description(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError({"description": _("Must be text.")})
    text = unicodedata.normalize("NFC", value).strip()
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
        raise ValidationError({"description": _("Must not contain control characters.")})
    if len(text) > DESCRIPTION_MAX_LENGTH:
        raise ValidationError(
            {"description": _("At most %(limit)d characters.") % {"limit": DESCRIPTION_MAX_LENGTH}}
        )
    return text


def _new_tracking_code() -> str:
    return "".join(secrets.choice(_TRACKING_ALPHABET) for _ in range(12))


def file_report(*, challenge_id: UUID | str, code: Any, kind: Any, description: Any) -> str:
    """Step 2: check the form, spend the one-time code, store the report (description
    sealed) and return the tracking code, shown once (only its keyed hash is kept)."""
    errors: dict[str, str] = {}
    if kind not in ReportKind.values:
        errors["kind"] = _("Choose what happened.")
    try:
        text = clean_description(description if description is not None else "")
    except ValidationError as error:
        errors["description"] = error.message_dict["description"][0]
    if errors:
        raise ValidationError(errors)
    challenge = _check_code(challenge_id, code)
    if challenge.purpose != ReportChallenge.FILE:
        raise Conflict(_("This request has expired; start again."))
    tenant = challenge.tenant
    if tenant is None:  # _check_code verifies only a matched challenge
        raise Conflict(_("This request has expired; start again."))
    tracking = _new_tracking_code()
    with transaction.atomic(), tenant_scope(tenant):
        order = Order.objects.select_related("subject").get(pk=challenge.order_ref)
        if order.subject.erased_at is not None:
            # Erased between the text and the form: no report for an erased customer.
            raise Conflict(_("This request has expired; start again."))
        report = PrivacyReport(
            tenant=tenant,
            order=order,
            subject_id=order.subject_id,
            kind=kind,
            tracking_hash=tracking_hash(tracking),
            due_at=timezone.now() + report_deadline(tenant),
        )
        report.save(force_insert=True)
        if text:
            try:
                report.description_ct = seal(report, "description", text)
            except SubjectErasedError:  # erased meanwhile: nothing is kept
                raise Conflict(_("This request has expired; start again.")) from None
            report.save(update_fields=["description_ct"])
        record_event(
            tenant=tenant,
            actor=VERIFIER,
            action="incidents.privacy_report_received",
            target=order,
            details={"kind": kind, "report": report.pk},
        )
        ReportChallenge.objects.filter(pk=challenge.pk).update(report_ref=report.pk)
    return f"{tracking[:4]}-{tracking[4:8]}-{tracking[8:]}"


@dataclass(frozen=True)
class ReportView:
    """What the customer sees of their report: no personal data."""

    kind: str
    status: str
    status_label: str
    received_at: Any
    answer: str
    answered_at: Any
    days: int = 15  # the tenant's time to answer, in days


def verify_status(*, challenge_id: UUID | str, code: Any) -> ReportChallenge:
    """The status page's step 2: spend the fresh one-time code."""
    challenge = _check_code(challenge_id, code)
    if challenge.purpose != ReportChallenge.STATUS or challenge.report_ref is None:
        raise Conflict(_("This request has expired; start again."))
    return challenge


def report_for(challenge_id: UUID | str) -> ReportView | None:
    """The report a status challenge verified, for CODE_LIFETIME after the verification."""
    challenge = ReportChallenge.objects.filter(
        pk=challenge_id, purpose=ReportChallenge.STATUS, verified_at__isnull=False
    ).first()
    if (
        challenge is None
        or challenge.tenant is None
        or challenge.verified_at is None
        or timezone.now() > challenge.verified_at + CODE_LIFETIME
    ):
        return None
    with tenant_scope(challenge.tenant):
        report = PrivacyReport.objects.filter(pk=challenge.report_ref).first()
        if report is None:
            return None
        return ReportView(
            kind=report.get_kind_display(),
            status=report.status,
            status_label=report.get_status_display(),
            received_at=report.received_at,
            answer=report.answer
            if report.status in (ReportStatus.ANSWERED, ReportStatus.CLOSED)
            else "",
            answered_at=report.answered_at,
            days=max(1, round((report.due_at - report.received_at).total_seconds() / 86400)),
        )


# --- Staff triage ---------------------------------------------------------------------------


def may_triage_reports(actor: Actor) -> bool:
    return isinstance(actor, User) and has_role(actor, *TRIAGERS)


def _require_triage(actor: Actor) -> None:
    if not may_triage_reports(actor):
        raise PermissionDenied(
            _("Only customer service or a privacy officer handles privacy reports.")
        )


def move_report(*, report: PrivacyReport, status: str, actor: Actor) -> PrivacyReport:
    """Move a report along received → in progress → (answered) → closed. Audited."""
    _require_triage(actor)
    with transaction.atomic(), tenant_scope(report.tenant):
        locked = PrivacyReport.objects.select_for_update().get(pk=report.pk)
        if status not in MOVES.get(ReportStatus(locked.status), ()):
            raise Conflict(_("This report cannot move to that status."))
        previous = locked.status
        locked.status = status
        fields = ["status"]
        if status == ReportStatus.CLOSED:
            locked.closed_at = timezone.now()
            fields.append("closed_at")
        locked.save(update_fields=fields)
        record_event(
            tenant=locked.tenant,
            actor=actor,
            action=(
                "incidents.privacy_report_closed"
                if status == ReportStatus.CLOSED
                else "incidents.privacy_report_moved"
            ),
            target=locked.order,
            details={"report": locked.pk, "from": previous, "to": status},
        )
    return locked


def clean_answer(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError({"answer": _("Must be text.")})
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        raise ValidationError({"answer": _("This field is required.")})
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
        raise ValidationError({"answer": _("Must not contain control characters.")})
    if len(text) > ANSWER_MAX_LENGTH:
        raise ValidationError(
            {"answer": _("At most %(limit)d characters.") % {"limit": ANSWER_MAX_LENGTH}}
        )
    return text


def answer_report(*, report: PrivacyReport, answer: Any, actor: Actor) -> PrivacyReport:
    """Staff answer the customer (shown on the status page; no personal data: the form says
    so). Answering again replaces the answer. Audited, without the answer's text."""
    _require_triage(actor)
    text = clean_answer(answer)
    with transaction.atomic(), tenant_scope(report.tenant):
        locked = PrivacyReport.objects.select_for_update().get(pk=report.pk)
        if locked.status == ReportStatus.CLOSED:
            raise Conflict(_("This report is closed."))
        locked.answer, locked.status = text, ReportStatus.ANSWERED
        locked.answered_at, locked.answered_by = timezone.now(), actor_label(actor)
        locked.save(update_fields=["answer", "status", "answered_at", "answered_by"])
        record_event(
            tenant=locked.tenant,
            actor=actor,
            action="incidents.privacy_report_answered",
            target=locked.order,
            details={"report": locked.pk},
        )
    return locked
