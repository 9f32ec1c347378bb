"""Customer service's order desk: one search box for an order code or the customer's phone
number, the orders that need customer service, and the day's quick links.

The phone is typed, never shown. It is looked up through the vault's blind index
(``privacy.api.find_subjects_by_phone``: keyed, truncated, its candidates checked inside
the vault, nothing revealed to the caller), and it never reaches a URL, the session, a log
or an audit event: the search POST keeps only the ids of the orders found in the session,
under a random handle, and redirects to ``?r=<handle>`` (post/redirect/get; a reload
shows the same results and searches nothing again). The handle expires with
``RESULTS_SECONDS``.

Later layers add lists of orders that need customer service (incidents: open anomalies)
with ``register_desk_queue`` from their ``AppConfig.ready()``: orders does not import them.
"""

from __future__ import annotations

import re
import secrets
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.functional import Promise
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audits.services import record_event
from orders.intake import CODE_ALPHABET
from orders.models import Order
from orders.selectors import orders_visible_to
from privacy.api import Purpose, find_subjects_by_phone, normalise_phone
from tenants.counters import within_limit
from tenants.models import Role, User
from tenants.roles import roles_of

# The session key of the desk's recent results: {handle: {"ids": [...], "at": epoch}}.
DESK_RESULTS = "baomi_desk_results"
RESULTS_KEPT = 5
RESULTS_SECONDS = 15 * 60
RESULTS_LIMIT = 50
QUERY_MAX_LENGTH = 40
QUEUE_LIMIT = 10

CODE = "code"
PHONE = "phone"
PHONE_SEARCHES_PER_HOUR = 60


class PhoneSearchLimited(Exception):
    """The actor searched by phone too often (the message says so)."""


# Roles that work at the desk. The phone search is a use of the customer's phone, which
# only customer service may use (privacy.permissions, purpose: customer-service call).
DESK_ROLES = frozenset({Role.CUSTOMER_SERVICE})

_CODE_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212\u00a0\u3000_./]")
_CODE = re.compile(rf"^[{CODE_ALPHABET}]{{10}}$")
_PHONE_CHARACTERS = re.compile(r"^[\d\s\-+().\u00a0\u3000]+$")

NOT_A_QUERY = gettext_lazy(
    "Enter an order code (10 letters and digits, such as 7KQ2M-X9T4P) or the customer's phone number."
)


def may_use_desk(actor: Any) -> bool:
    return isinstance(actor, User) and actor.is_active and bool(roles_of(actor) & DESK_ROLES)


def parse_query(raw: str) -> tuple[str, str]:
    """(``CODE``, the order code in its stored form ``XXXXX-XXXXX``) or (``PHONE``, the
    phone in its normal form). ``ValidationError`` with a message that never repeats the
    input otherwise."""
    text = unicodedata.normalize("NFKC", raw or "").strip()
    if not text:
        raise ValidationError(_("Type an order code or a phone number."), code="required")
    if len(text) > QUERY_MAX_LENGTH:
        raise ValidationError(
            _("At most %(limit)d characters.") % {"limit": QUERY_MAX_LENGTH}, code="max_length"
        )
    compact = _CODE_SEPARATORS.sub("", text).upper()
    if _CODE.match(compact):
        return CODE, f"{compact[:5]}-{compact[5:]}"
    if not _PHONE_CHARACTERS.match(text):
        raise ValidationError(NOT_A_QUERY, code="invalid")
    # The phone's normal form is intake's (privacy.api.normalise_phone): the blind index
    # was computed over it.
    return PHONE, normalise_phone(text)


class DeskSearchForm(forms.Form):
    q = forms.CharField(
        label=gettext_lazy("Order code or phone number"),
        # No max_length here: parse_query's message names the limit (the box has maxlength).
        required=False,
        strip=False,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from unfold.widgets import UnfoldAdminTextInputWidget

        super().__init__(*args, **kwargs)
        self.fields["q"].widget = UnfoldAdminTextInputWidget(
            attrs={
                "autocomplete": "off",
                "autofocus": True,
                "spellcheck": "false",
                "inputmode": "text",
                "maxlength": str(QUERY_MAX_LENGTH),
                "aria-describedby": "desk-search-help",
                "data-testid": "desk-search",
            }
        )

    def clean_q(self) -> tuple[str, str]:
        return parse_query(self.cleaned_data.get("q") or "")


def order_with_code_for(actor: User, code: str) -> Order | None:
    """The order of ``actor``'s tenant with this code, if ``actor`` may see it."""
    return orders_visible_to(actor).filter(code=code).first()


def search_orders_by_phone(*, actor: User, phone: str) -> list[UUID]:
    """Ids of the orders (newest first, at most ``RESULTS_LIMIT``) of the tenant's
    customers with this phone, found through the vault's blind index.

    The vault records its own search (``privacy.search``, committed whatever happens next:
    call this outside any transaction); then one ``order.desk_phone_search`` event records
    that the desk searched by phone and how many orders it found — never the phone.
    ``PermissionDenied`` for a role that does not work at the desk; the vault's
    ``RevealDenied`` and ``VaultError`` pass through."""
    tenant = actor.tenant
    if tenant is None or not may_use_desk(actor):
        raise PermissionDenied(_("Only customer service searches orders by phone."))
    # A person looks up a few numbers an hour; many more is someone mapping the customers.
    if not within_limit(f"desk-phone:{actor.pk}", limit=PHONE_SEARCHES_PER_HOUR, window=3600):
        raise PhoneSearchLimited(
            _("Too many phone searches in the last hour: search by order code, or try later.")
        )
    subjects = find_subjects_by_phone(
        tenant=tenant, phone=phone, actor=actor, purpose=Purpose.CUSTOMER_SERVICE_CALL
    )
    ids = list(
        orders_visible_to(actor)
        .filter(subject__in=[subject.pk for subject in subjects])
        .order_by("-created_at")
        .values_list("pk", flat=True)[:RESULTS_LIMIT]
    )
    with transaction.atomic():
        record_event(
            tenant=tenant,
            actor=actor,
            action="order.desk_phone_search",
            fields=["phone"],
            purpose=Purpose.CUSTOMER_SERVICE_CALL,
            details={"results": len(ids)},
        )
    return ids


def keep_results(request: HttpRequest, ids: Sequence[UUID | str]) -> str:
    """Keep ``ids`` in the session under a new random handle (the last ``RESULTS_KEPT``
    searches, each for ``RESULTS_SECONDS``) and return the handle."""
    now = int(time.time())
    kept = {
        handle: entry
        for handle, entry in dict(request.session.get(DESK_RESULTS, {})).items()
        if now - int(entry.get("at", 0)) < RESULTS_SECONDS
    }
    newest = sorted(kept.items(), key=lambda item: item[1]["at"])[-(RESULTS_KEPT - 1) :]
    handle = secrets.token_urlsafe(9)
    request.session[DESK_RESULTS] = {
        **dict(newest),
        handle: {"ids": [str(pk) for pk in ids], "at": now},
    }
    return handle


def kept_results(request: HttpRequest, handle: str) -> list[str] | None:
    """The order ids kept under ``handle``; None if there are none or they expired."""
    entry = dict(request.session.get(DESK_RESULTS, {})).get(handle)
    if not isinstance(entry, dict) or time.time() - int(entry.get("at", 0)) >= RESULTS_SECONDS:
        return None
    return [str(pk) for pk in entry.get("ids", [])]


def orders_found(actor: User, ids: Sequence[str]) -> list[Order]:
    """The kept results, read again through the actor's scope (one query)."""
    if not ids:
        return []
    return list(orders_visible_to(actor).filter(pk__in=ids).order_by("-created_at"))


@dataclass(frozen=True)
class DeskRow:
    order: Order
    reason: str | Promise
    at: datetime


@dataclass(frozen=True)
class DeskQueue:
    """A list of orders that need customer service, contributed by a later layer."""

    key: str
    title: str | Promise
    rows: Callable[[User, int], list[DeskRow]]
    # The full list behind it (a URL name and a query string), for the quick links.
    more_url_name: str = ""
    more_query: str = ""
    more_label: str | Promise = ""


_queues: list[DeskQueue] = []


def register_desk_queue(queue: DeskQueue) -> None:
    """Show ``queue`` on the desk, below the search (registered once per key)."""
    if all(existing.key != queue.key for existing in _queues):
        _queues.append(queue)


def desk_queues() -> list[DeskQueue]:
    return list(_queues)


def _order_link(order: Order) -> str:
    return format_html(
        '<a class="baomi-desk-code" href="{}">{}</a>',
        reverse("admin:orders_order_change", args=[order.pk]),
        order.code,
    )


def _when(moment: datetime) -> str:
    return str(formats.localize(timezone.localtime(moment)))


def results_table(orders: Sequence[Order]) -> dict[str, Any]:
    """The found orders as unfold's table component takes them: masks only, as the order
    list shows them."""
    return {
        "headers": [
            _("Order code"),
            _("Status"),
            _("Recipient"),
            _("Phone"),
            _("District"),
            _("Created at"),
        ],
        "rows": [
            [
                _order_link(order),
                order.get_status_display(),
                order.recipient_masked,
                order.phone_masked,
                order.district,
                _when(order.created_at),
            ]
            for order in orders
        ],
    }


def queue_table(rows: Sequence[DeskRow]) -> dict[str, Any]:
    return {
        "headers": [_("Order code"), _("Status"), _("Reason"), _("Since")],
        "rows": [
            [
                _order_link(row.order),
                row.order.get_status_display(),
                str(row.reason),
                _when(row.at),
            ]
            for row in rows
        ],
    }
