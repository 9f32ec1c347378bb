"""The evidence pack's reveal log (issue 20, point 6; audits.pack_sections): who revealed
what — the staff member's username and roles, when, which order (by its code), which
fields, for which purpose — from the ``privacy.reveal`` and ``privacy.reveal_batch``
events of the period; a batch event gives one row per order it names. Registered here,
in orders, because it reads both the audit log and the orders' codes (audits never
imports orders). Never a customer's data: codes, ids, usernames, labels."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from django.db.models import Count, IntegerField, Q, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audits.evidence_values import People
from audits.models import AuditEvent
from audits.pack_sections import PackFile, PackSection, register_pack_section
from audits.panels import Period
from core.audit_registry import purpose_label
from orders.forms import FIELD_LABELS
from orders.models import Order
from tenants.models import Tenant

ORDER_TYPE = "orders.order"
REVEALS = ("privacy.reveal", "privacy.reveal_batch")
CHUNK = 1000

HEADER = (
    gettext_lazy("time"),
    gettext_lazy("username"),
    gettext_lazy("roles"),
    gettext_lazy("kind"),
    gettext_lazy("order code"),
    gettext_lazy("other record"),
    gettext_lazy("fields"),
    gettext_lazy("purpose"),
    gettext_lazy("event"),
)


def _events(tenant: Tenant, period: Period) -> Any:
    return AuditEvent.objects.filter(
        tenant=tenant,
        action__in=REVEALS,
        occurred_at__gte=period.start,
        occurred_at__lt=period.end,
    )


def _object_ids(event: AuditEvent) -> list[str]:
    if event.action == "privacy.reveal":
        return [event.object_id]
    objects = event.details.get("objects") if isinstance(event.details, dict) else None
    return (
        [str(v) for v in objects if isinstance(v, str | int)] if isinstance(objects, list) else []
    )


def _codes(tenant: Tenant, ids: set[str]) -> dict[str, str]:
    valid = {}
    for value in ids:
        try:
            valid[uuid.UUID(value)] = value
        except ValueError:
            continue
    if not valid:
        return {}
    rows = Order.objects.filter(tenant=tenant, pk__in=list(valid)).values_list("pk", "code")
    return {valid[pk]: code for pk, code in rows}


def _fields(event: AuditEvent) -> str:
    names = event.fields if isinstance(event.fields, list) else []
    if event.object_type == ORDER_TYPE:
        return ", ".join(str(FIELD_LABELS.get(name, name)) for name in names)
    return ", ".join(str(name) for name in names)


def _rows(tenant: Tenant, period: Period) -> Iterator[Sequence[Any]]:
    """The log's rows in the order they were written, read CHUNK events at a time (keyset
    on the id: the chain's stripes number their events each on its own): per chunk one query for the events, one for the orders' codes and at most
    two for users not seen before."""
    people = People(tenant)
    after = 0
    single, batch = _("single"), _("batch")
    while True:
        chunk = list(
            _events(tenant, period)
            .filter(pk__gt=after)
            .order_by("pk")
            .only(
                "sequence",
                "occurred_at",
                "actor",
                "action",
                "object_type",
                "object_id",
                "fields",
                "purpose",
                "details",
            )[:CHUNK]
        )
        if not chunk:
            return
        after = chunk[-1].pk
        people.load(e.actor for e in chunk)
        order_ids = {
            oid for e in chunk if e.object_type == ORDER_TYPE for oid in _object_ids(e) if oid
        }
        codes = _codes(tenant, order_ids)
        for event in chunk:
            who, roles = people.of(event.actor)
            kind = single if event.action == "privacy.reveal" else batch
            fields = _fields(event)
            purpose = purpose_label(event.purpose) if event.purpose else ""
            for object_id in _object_ids(event):
                if event.object_type == ORDER_TYPE:
                    code, other = codes.get(object_id, f"#{object_id}"), ""
                else:
                    code, other = "", f"{event.object_type}:{object_id}"
                yield (
                    event.occurred_at,
                    who,
                    roles,
                    kind,
                    code,
                    other,
                    fields,
                    purpose,
                    event.sequence,
                )


def reveal_log(tenant: Tenant, period: Period) -> PackSection:
    records = Cast(KeyTextTransform("count", "details"), IntegerField())
    totals = _events(tenant, period).aggregate(
        single=Count("pk", filter=Q(action="privacy.reveal")),
        batches=Count("pk", filter=Q(action="privacy.reveal_batch")),
        batch_records=Sum(records, filter=Q(action="privacy.reveal_batch")),
        people=Count("actor", distinct=True),
    )
    denied = AuditEvent.objects.filter(
        tenant=tenant,
        action__in=("privacy.reveal_denied", "privacy.reveal_batch_denied"),
        occurred_at__gte=period.start,
        occurred_at__lt=period.end,
    ).count()
    return PackSection(
        files=[PackFile("reveal_log.csv", HEADER, _rows(tenant, period))],
        summary=[
            (gettext_lazy("Single reveals"), totals["single"]),
            (gettext_lazy("Batch reveals (station pages)"), totals["batches"]),
            (gettext_lazy("Records revealed in batches"), totals["batch_records"] or 0),
            (gettext_lazy("Staff members who revealed"), totals["people"]),
            (gettext_lazy("Refused reveals"), denied),
        ],
        notes=[
            gettext_lazy(
                "One row per record revealed: a batch reveal (a station's page) gives one "
                "row per order it showed. Orders are named by their code, never by the "
                "customer's data."
            )
        ],
    )


def register() -> None:
    register_pack_section(
        "orders.reveals", title=gettext_lazy("Reveal log"), order=10, build=reveal_log
    )
