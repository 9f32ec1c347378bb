"""Affected customers of a leak case and the customer notice (issue 18, points 1 and 3; a
drill's notice sends nothing, point 6).

- **Affected customers** are linked by order code: each code is looked up in the case's
  tenant (another tenant's code is unknown, like a code that does not exist) and the row
  keeps the order and its subject id, never a copy of the customer's data. A list with an
  unknown or malformed code adds nothing (the message names the unknown codes). A customer
  already linked (by another of their orders, or twice) is reported, not added again.
- **The notice** (PIPL Art. 57) is written once per case, in Chinese and English: the data
  categories, the cause, the possible harm, what the company has done, what the customer
  can do, whom to contact, and an apology. Case managers draft it; only a privacy officer
  approves it; an approved notice is frozen (``Conflict``). The frame around the staff's
  texts (headings, apology) is fixed here in both languages, not taken from the
  translation catalogue: every customer gets the same two texts whatever the page's
  language.
- **Sending** (``send_notice``, the body of ``incidents.tasks.send_case_notice``): one
  delivery row per linked customer, claimed under its row lock (pending → sending) before
  the text goes out, so a customer is never texted twice for one notice even when the
  task runs twice or concurrently; the phone is revealed by the vault (system actor,
  purpose ``incident_notice``, audited) at send time only. A delivery whose worker died
  after its claim stays "sending" and is never re-sent automatically. A failure keeps the
  error's class name only; failed rows are retried by the task with a growing delay up to
  ``MAX_ATTEMPTS`` attempts, then listed for the "Retry failed" button. A drill's notice
  goes through the same steps and its deliveries end as "drill — not sent".
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from audits.services import record_event
from core.errors import Conflict
from incidents.cases import _lock, _require_manager, _text, may_manage_cases
from incidents.models import (
    NOTICE_CONTACT_MAX_LENGTH,
    NOTICE_TEXT_MAX_LENGTH,
    AffectedCustomer,
    CaseNotice,
    DataCategory,
    DeliveryStatus,
    IncidentCase,
    NoticeDelivery,
    NoticeState,
    RemedyKind,
    RemedyStatus,
)
from orders.models import Order
from privacy.api import Purpose, RevealDenied, SmsNotSent, VaultError, text_customer
from tenants.actors import Actor, SystemActor, actor_label
from tenants.models import Role
from tenants.roles import has_role
from tenants.scoping import tenant_scope

logger = logging.getLogger(__name__)

NOTICE_SENDER = SystemActor("incident-notice")
MAX_CODES = 200
MAX_ATTEMPTS = 4  # the first attempt and three retries by the task
MAX_REMEDY_AMOUNT = Decimal("1000000")
_ORDER_CODE = re.compile(r"^[0-9A-Z]{5}-[0-9A-Z]{5}$")
_SEPARATORS = re.compile(r"[\s,，、;；]+")
NOTICE_TEXT_FIELDS = (
    "cause_zh",
    "cause_en",
    "harm_zh",
    "harm_en",
    "measures_zh",
    "measures_en",
    "advice_zh",
    "advice_en",
)

# The notice's fixed frame in each language (see the module's docstring).
_CATEGORY_NAMES = {
    "zh": {
        DataCategory.NAME: "姓名",
        DataCategory.PHONE: "电话号码",
        DataCategory.ADDRESS: "地址",
        DataCategory.DELIVERY_NOTE: "配送备注",
        DataCategory.ORDER_CONTENTS: "订单内容",
    },
    "en": {
        DataCategory.NAME: "name",
        DataCategory.PHONE: "phone number",
        DataCategory.ADDRESS: "address",
        DataCategory.DELIVERY_NOTE: "delivery note",
        DataCategory.ORDER_CONTENTS: "order contents",
    },
}
_FRAME = {
    "zh": (
        "【{sender}】个人信息安全事件通知\n"
        "我们很抱歉地告知您：您的以下个人信息可能受到影响：{categories}。\n"
        "原因：{cause}\n"
        "可能的影响：{harm}\n"
        "我们已采取的措施：{measures}\n"
        "您可以采取的措施：{advice}\n"
        "联系我们：{contact}\n"
        "对此给您带来的困扰，我们深表歉意。"
    ),
    "en": (
        "[{sender}] Notice of a personal data incident\n"
        "We are sorry to tell you that the following personal data of yours may be "
        "affected: {categories}.\n"
        "Cause: {cause}\n"
        "Possible harm: {harm}\n"
        "What we have done: {measures}\n"
        "What you can do: {advice}\n"
        "Contact: {contact}\n"
        "We sincerely apologise for this."
    ),
}
_LIST_SEPARATOR = {"zh": "、", "en": ", "}


def _now() -> Any:
    return timezone.now()


# --- Affected customers ----------------------------------------------------------------


@dataclass
class Added:
    """What ``add_affected_customers`` did: the codes added and those already linked."""

    added: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)


def _normal_code(raw: str) -> str:
    code = raw.upper()
    if len(code) == 10 and "-" not in code:
        code = f"{code[:5]}-{code[5:]}"
    return code


def parse_codes(codes: object) -> list[str]:
    """The order codes in ``codes`` (separated by spaces, commas or line breaks), each
    once, in their order; ``ValidationError`` when there are none, too many, or some that
    are not order codes (counted, never repeated: a mistyped entry could be anything)."""
    if not isinstance(codes, str):
        raise ValidationError({"codes": _("Must be text.")})
    entries = [_normal_code(e) for e in _SEPARATORS.split(codes) if e]
    if not entries:
        raise ValidationError({"codes": _("Give one or more order codes.")})
    if len(entries) > MAX_CODES:
        raise ValidationError(
            {"codes": _("At most %(limit)d order codes at a time.") % {"limit": MAX_CODES}}
        )
    malformed = [e for e in entries if not _ORDER_CODE.match(e)]
    if malformed:
        raise ValidationError(
            {
                "codes": ngettext(
                    "%(count)d entry is not an order code (e.g. 7K3Q9-XD2M4). Nothing was added.",
                    "%(count)d entries are not order codes (e.g. 7K3Q9-XD2M4). Nothing was added.",
                    len(malformed),
                )
                % {"count": len(malformed)}
            }
        )
    return list(dict.fromkeys(entries))


def add_affected_customers(*, case: IncidentCase, codes: object, actor: Actor) -> Added:
    """Link the customers of the orders ``codes`` (of the case's tenant) to ``case``. All
    or nothing: an unknown code refuses the whole list (``ValidationError`` naming the
    unknown codes). Customers already linked are reported in ``already``. When the notice
    is already approved, the new customers get their delivery at once. Audited
    (``incidents.affected_customers_added``: the case and the count)."""
    _require_manager(actor, case.tenant_id)
    wanted = parse_codes(codes)
    result = Added()
    queue_notice: int | None = None
    with transaction.atomic(), tenant_scope(case.tenant):
        locked = _lock(case)
        orders = {o.code: o for o in Order.objects.filter(code__in=wanted)}
        unknown = [code for code in wanted if code not in orders]
        if unknown:
            raise ValidationError(
                {
                    "codes": _("Unknown order codes: %(codes)s. Nothing was added.")
                    % {"codes": ", ".join(unknown)}
                }
            )
        linked = set(
            AffectedCustomer.objects.filter(case=locked).values_list("subject_id", flat=True)
        )
        new: list[AffectedCustomer] = []
        for code in wanted:
            order = orders[code]
            if order.subject_id in linked:
                result.already.append(code)
                continue
            linked.add(order.subject_id)
            row = AffectedCustomer(
                tenant=locked.tenant,
                case=locked,
                subject_id=order.subject_id,
                order=order,
                added_by=actor_label(actor),
            )
            row.save(force_insert=True)
            new.append(row)
            result.added.append(code)
        if not new:
            return result
        notice = CaseNotice.objects.select_for_update().filter(case=locked).first()
        if notice is not None and notice.state != NoticeState.DRAFT:
            NoticeDelivery.objects.bulk_create(
                NoticeDelivery(tenant=locked.tenant, notice=notice, customer=row) for row in new
            )
            if notice.state == NoticeState.SENT:
                notice.state = NoticeState.SENDING
                notice.save(update_fields=["state", "updated_at"])
            queue_notice = notice.pk
        record_event(
            tenant=locked.tenant,
            actor=actor,
            action="incidents.affected_customers_added",
            target=locked,
            details={"case": locked.pk, "count": len(new), "drill": locked.is_drill},
        )
        if queue_notice is not None:
            _queue(locked.tenant_id, queue_notice)
    return result


def _amount(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError({"remedy_amount": _("Give an amount such as 50.00.")}) from None
    if not amount.is_finite() or amount < 0 or amount > MAX_REMEDY_AMOUNT:
        raise ValidationError({"remedy_amount": _("Give an amount from 0 to 1,000,000.")}) from None
    if amount != amount.quantize(Decimal("0.01")):
        raise ValidationError({"remedy_amount": _("At most two decimal places.")})
    return amount.quantize(Decimal("0.01"))


def set_remedy(
    *,
    case: IncidentCase,
    customer_id: int,
    remedy_kind: object,
    remedy_amount: object,
    remedy_status: object,
    apology_sent: object,
    actor: Actor,
) -> AffectedCustomer:
    """Set the remedy (kind, amount in the row's currency, status) and whether an apology
    was made, for one affected customer of ``case`` (another case's: 404). "None" as the
    kind takes no amount and no status. Audited (``incidents.remedy_set``; never the
    amount's customer, only ids and codes)."""
    _require_manager(actor, case.tenant_id)
    errors: dict[str, list[str]] = {}
    if remedy_kind not in RemedyKind.values:
        errors["remedy_kind"] = [_("Choose a remedy.")]
    if remedy_status not in RemedyStatus.values:
        errors["remedy_status"] = [_("Choose a status.")]
    amount: Decimal | None = None
    try:
        amount = _amount(remedy_amount)
    except ValidationError as error:
        errors.update(error.message_dict)
    if (
        not errors
        and remedy_kind == RemedyKind.NONE
        and (amount is not None or remedy_status != RemedyStatus.NONE)
    ):
        errors["remedy_kind"] = [_("Choose a remedy before giving an amount or a status.")]
    if not errors and remedy_kind != RemedyKind.NONE and remedy_status == RemedyStatus.NONE:
        errors["remedy_status"] = [
            _("Choose whether the remedy is offered, accepted, paid or declined.")
        ]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(), tenant_scope(case.tenant):
        row = (
            AffectedCustomer.objects.select_for_update(of=("self",))
            .filter(pk=customer_id, case_id=case.pk)
            .first()
        )
        if row is None:
            raise Http404(_("No such affected customer."))
        row.remedy_kind = str(remedy_kind)
        row.remedy_amount = amount
        row.remedy_status = str(remedy_status)
        row.apology_sent = bool(apology_sent) or row.notified_at is not None
        row.save(update_fields=["remedy_kind", "remedy_amount", "remedy_status", "apology_sent"])
        record_event(
            tenant=case.tenant,
            actor=actor,
            action="incidents.remedy_set",
            target=case,
            details={
                "case": case.pk,
                "customer": row.pk,
                "remedy": row.remedy_kind,
                "status": row.remedy_status,
                "apology": row.apology_sent,
            },
        )
    return row


# --- The notice ------------------------------------------------------------------------


def may_approve_notices(actor: Actor, tenant_id: int) -> bool:
    return may_manage_cases(actor, tenant_id) and has_role(actor, Role.PRIVACY_OFFICER)


def notice_of(case: IncidentCase) -> CaseNotice | None:
    with tenant_scope(case.tenant):
        return CaseNotice.objects.filter(case=case).first()


def notice_initial(case: IncidentCase) -> dict[str, Any]:
    """A new notice's starting values: the case's data categories, and the privacy
    contact of the tenant's latest notice."""
    with tenant_scope(case.tenant):
        contact = CaseNotice.objects.order_by("-pk").values_list("contact", flat=True).first() or ""
    return {"data_categories": list(case.data_categories), "contact": contact}


def clean_notice(values: dict[str, object]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for name in NOTICE_TEXT_FIELDS:
        try:
            cleaned[name] = _text(
                name, values.get(name), limit=NOTICE_TEXT_MAX_LENGTH, required=True
            )
        except ValidationError as error:
            errors.update(error.message_dict)
    try:
        cleaned["contact"] = _text(
            "contact", values.get("contact"), limit=NOTICE_CONTACT_MAX_LENGTH, required=True
        )
    except ValidationError as error:
        errors.update(error.message_dict)
    categories = values.get("data_categories")
    if not isinstance(categories, list | tuple) or any(
        c not in DataCategory.values for c in categories
    ):
        errors["data_categories"] = [_("Choose from the listed categories.")]
    elif not categories:
        errors["data_categories"] = [_("Choose at least one category of personal data.")]
    else:
        cleaned["data_categories"] = [c for c in DataCategory.values if c in categories]
    if errors:
        raise ValidationError(errors)
    return cleaned


def save_notice(*, case: IncidentCase, values: dict[str, object], actor: Actor) -> CaseNotice:
    """Create or edit the case's notice while it is a draft; an approved notice is a
    ``Conflict``. Audited (``incidents.notice_saved``)."""
    _require_manager(actor, case.tenant_id)
    cleaned = clean_notice(values)
    with transaction.atomic(), tenant_scope(case.tenant):
        locked = _lock(case)
        notice = CaseNotice.objects.select_for_update().filter(case=locked).first()
        if notice is None:
            notice = CaseNotice(tenant=locked.tenant, case=locked, drafted_by=actor_label(actor))
        elif notice.state != NoticeState.DRAFT:
            raise Conflict(_("The notice is approved: it can no longer be edited."))
        for name, value in cleaned.items():
            setattr(notice, name, value)
        notice.drafted_by = actor_label(actor)
        notice.save()
        record_event(
            tenant=locked.tenant,
            actor=actor,
            action="incidents.notice_saved",
            target=locked,
            details={"case": locked.pk, "notice": notice.pk},
        )
    return notice


def notice_texts(notice: CaseNotice) -> dict[str, str]:
    """The notice as each customer receives it, by language ("zh", "en"): the same for
    every customer, with no customer's data in it."""
    sender = notice.tenant.name
    texts = {}
    for language in ("zh", "en"):
        names = _CATEGORY_NAMES[language]
        texts[language] = _FRAME[language].format(
            sender=sender,
            categories=_LIST_SEPARATOR[language].join(
                names[DataCategory(c)] for c in notice.data_categories
            ),
            cause=getattr(notice, f"cause_{language}"),
            harm=getattr(notice, f"harm_{language}"),
            measures=getattr(notice, f"measures_{language}"),
            advice=getattr(notice, f"advice_{language}"),
            contact=notice.contact,
        )
    return texts


def customer_message(notice: CaseNotice) -> str:
    """The one text message a customer receives: Chinese, then English. Orders record no
    language of their customer, so every customer gets both."""
    texts = notice_texts(notice)
    return f"{texts['zh']}\n\n{texts['en']}"


def approve_notice(*, case: IncidentCase, actor: Actor) -> CaseNotice:
    """A privacy officer approves the draft: it is frozen, a delivery row is made for every
    linked customer and the sending task is queued (ids only) once this commits. Audited
    (``incidents.notice_approved``)."""
    if not may_approve_notices(actor, case.tenant_id):
        raise PermissionDenied(_("Only a privacy officer approves a customer notice."))
    with transaction.atomic(), tenant_scope(case.tenant):
        locked = _lock(case)
        notice = CaseNotice.objects.select_for_update().filter(case=locked).first()
        if notice is None:
            raise Conflict(_("Write the notice before approving it."))
        if notice.state != NoticeState.DRAFT:
            raise Conflict(_("The notice is already approved."))
        customers = list(AffectedCustomer.objects.filter(case=locked))
        if not customers:
            raise Conflict(_("Link the affected customers before approving the notice."))
        notice.state = NoticeState.APPROVED
        notice.approved_by = actor_label(actor)
        notice.approved_at = _now()
        notice.save(update_fields=["state", "approved_by", "approved_at", "updated_at"])
        NoticeDelivery.objects.bulk_create(
            NoticeDelivery(tenant=locked.tenant, notice=notice, customer=c) for c in customers
        )
        record_event(
            tenant=locked.tenant,
            actor=actor,
            action="incidents.notice_approved",
            target=locked,
            details={
                "case": locked.pk,
                "notice": notice.pk,
                "count": len(customers),
                "drill": locked.is_drill,
            },
        )
        _queue(locked.tenant_id, notice.pk)
    return notice


def retry_failed(*, case: IncidentCase, actor: Actor) -> int:
    """Put the notice's failed deliveries back to pending and queue the task; how many.
    Audited (``incidents.notice_retried``)."""
    _require_manager(actor, case.tenant_id)
    with transaction.atomic(), tenant_scope(case.tenant):
        locked = _lock(case)
        notice = CaseNotice.objects.select_for_update().filter(case=locked).first()
        if notice is None or notice.state == NoticeState.DRAFT:
            raise Conflict(_("The notice is not approved yet."))
        count = NoticeDelivery.objects.filter(notice=notice, status=DeliveryStatus.FAILED).update(
            status=DeliveryStatus.PENDING
        )
        if not count:
            raise Conflict(_("No delivery has failed."))
        notice.state = NoticeState.SENDING
        notice.save(update_fields=["state", "updated_at"])
        record_event(
            tenant=locked.tenant,
            actor=actor,
            action="incidents.notice_retried",
            target=locked,
            details={"case": locked.pk, "notice": notice.pk, "count": count},
        )
        _queue(locked.tenant_id, notice.pk)
    return count


def _queue(tenant_id: int, notice_id: int) -> None:
    from incidents.tasks import send_case_notice

    send_case_notice.delay_on_commit(tenant_id, notice_id)


def retry_delay(retries: int) -> int:
    """Seconds before the task's next try: doubling from the base, at most ten minutes
    (below the broker's visibility timeout)."""
    base = int(getattr(settings, "BAOMI_NOTICE_RETRY_SECONDS", 60))
    return int(min(base * 2**retries, 600))


# --- Sending (the task's body) ---------------------------------------------------------


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0
    drill: int = 0
    retry: bool = False  # failed deliveries left that the task should try again


def _claim(delivery_id: int) -> NoticeDelivery | None:
    """Take one delivery for sending under its row lock, or None if it is not (or no
    longer) to be sent: the check that keeps a customer from a second text."""
    with transaction.atomic():
        row = (
            NoticeDelivery.objects.select_for_update(of=("self",))
            .select_related("customer__order")
            .filter(pk=delivery_id)
            .first()
        )
        eligible = row is not None and (
            row.status == DeliveryStatus.PENDING
            or (row.status == DeliveryStatus.FAILED and row.attempts < MAX_ATTEMPTS)
        )
        if not eligible:
            return None
        assert row is not None  # noqa: S101 - checked above
        row.status = DeliveryStatus.SENDING
        row.attempts += 1
        row.save(update_fields=["status", "attempts"])
    return row


def _finish(row: NoticeDelivery, status: DeliveryStatus, error: str = "") -> None:
    now = _now()
    with transaction.atomic():
        row.status = status
        row.error = error[:64]
        row.sent_at = now if status == DeliveryStatus.SENT else None
        row.save(update_fields=["status", "error", "sent_at"])
        if status == DeliveryStatus.SENT:
            AffectedCustomer.objects.filter(pk=row.customer_id, notified_at__isnull=True).update(
                notified_at=now, channel="sms", apology_sent=True
            )


def send_notice(*, notice_id: int) -> SendResult:
    """Send the notice ``notice_id`` to its pending deliveries (and failed ones with tries
    left), in the tenant's scope, outside any transaction (the vault's reveal commits its
    audit event on its own). Safe to run twice: see the module's docstring."""
    result = SendResult()
    notice = CaseNotice.objects.select_related("case", "tenant").filter(pk=notice_id).first()
    if notice is None or notice.state == NoticeState.DRAFT:
        return result
    drill = notice.case.is_drill
    with transaction.atomic():
        CaseNotice.objects.filter(pk=notice.pk, state=NoticeState.APPROVED).update(
            state=NoticeState.SENDING
        )
    message = customer_message(notice)
    ids = list(
        NoticeDelivery.objects.filter(
            notice=notice, status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED]
        ).values_list("pk", flat=True)
    )
    for delivery_id in ids:
        row = _claim(delivery_id)
        if row is None:
            continue
        if drill:
            _finish(row, DeliveryStatus.DRILL)
            result.drill += 1
            continue
        try:
            text_customer(
                row.customer.order,
                actor=NOTICE_SENDER,
                purpose=Purpose.INCIDENT_NOTICE,
                text=message,
            )
        except SmsNotSent as error:
            _finish(row, DeliveryStatus.FAILED, str(error) or type(error).__name__)
            result.failed += 1
        except (RevealDenied, VaultError) as error:
            _finish(row, DeliveryStatus.FAILED, type(error).__name__)
            result.failed += 1
        except Exception as error:  # a row never stays "sending" for an unexpected error
            logger.warning(
                "incident notice %s: sending failed (%s)", notice.pk, type(error).__name__
            )
            _finish(row, DeliveryStatus.FAILED, type(error).__name__)
            result.failed += 1
        else:
            _finish(row, DeliveryStatus.SENT)
            result.sent += 1
    with transaction.atomic():
        locked = CaseNotice.objects.select_for_update().get(pk=notice.pk)
        counts = dict(
            NoticeDelivery.objects.filter(notice=locked)
            .order_by()
            .values_list("status")
            .annotate(n=Count("pk"))
        )
        result.retry = NoticeDelivery.objects.filter(
            notice=locked, status=DeliveryStatus.FAILED, attempts__lt=MAX_ATTEMPTS
        ).exists()
        busy = counts.get(DeliveryStatus.PENDING, 0) + counts.get(DeliveryStatus.SENDING, 0)
        if not busy and not result.retry and locked.state != NoticeState.SENT:
            locked.state = NoticeState.SENT
            locked.sent_at = locked.sent_at or _now()
            locked.save(update_fields=["state", "sent_at", "updated_at"])
        if result.sent or result.failed or result.drill:
            record_event(
                tenant=locked.tenant,
                actor=NOTICE_SENDER,
                action="incidents.notice_sent",
                target=notice.case,
                details={
                    "case": notice.case_id,
                    "notice": locked.pk,
                    "sent": result.sent,
                    "failed": result.failed,
                    "drill": drill,
                },
            )
    return result


def delivery_progress(notice: CaseNotice) -> dict[str, int]:
    """How many deliveries are in each status (every status named, zero or not)."""
    with tenant_scope(notice.tenant):
        counts = dict(
            NoticeDelivery.objects.filter(notice=notice)
            .order_by()
            .values_list("status")
            .annotate(n=Count("pk"))
        )
    return {status: counts.get(status, 0) for status in DeliveryStatus.values}
