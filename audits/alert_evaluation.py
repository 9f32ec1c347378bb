"""Evaluating the anomalous-access rules over a tenant's new audit events (issue 20, point 2).

``evaluate_tenant(tenant)`` (a Celery task per tenant, every two minutes) reads the events
after the tenant's watermark (``AlertWatermark.stripes``: a sequence per stripe of the
chain, decision 0019) up to each stripe's head, at most ``BATCH`` at a time in id order
(by the unique (tenant, stripe, sequence) index), runs every registered rule on
the events of the actions it reads, and files each firing: into the person's live alert of
that rule (open or acknowledged), or a new alert. One transaction: the watermark's row lock
makes two runs for the same tenant take turns, and the second finds nothing new; a run that
fails moves nothing. A new alert notifies the tenant's supervisors and privacy officers once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Min, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.alert_rules import (
    AlertRule,
    Firing,
    RuleInput,
    all_rules,
    rule_label,
    token_id_of,
    user_id_of,
)
from audits.hours import settings_for
from audits.models import (
    LIVE_ALERT_STATES,
    AccessAlert,
    AccessAlertEvent,
    AlertWatermark,
    AuditChainHead,
    AuditEvent,
)
from audits.services import record_event
from tenants.actors import SystemActor
from tenants.models import IntegrationToken, Role, Tenant, User
from tenants.notifications import notify, register_kind
from tenants.scoping import tenant_scope

ALERT_ACTOR = SystemActor("alerts")
BATCH = 5000
ALERT_OPENED = "alerts.opened"
#: Who hears of a new alert.
NOTIFIED_ROLES = (Role.SUPERVISOR, Role.PRIVACY_OFFICER)


def _opened_message(params: dict[str, Any]) -> str:
    return _("New alert: %(rule)s") % {"rule": rule_label(params["rule"])}


def register_kinds() -> None:
    """From audits' AppConfig.ready()."""
    register_kind(ALERT_OPENED, _opened_message)


def _watermark(tenant: Tenant) -> AlertWatermark:
    """The tenant's watermark row, locked until the transaction ends (created on first use)."""
    found = AlertWatermark.objects.select_for_update(of=("self",)).filter(tenant=tenant).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            AlertWatermark(tenant=tenant).save(force_insert=True)
    except IntegrityError:
        pass  # another run created it
    return AlertWatermark.objects.select_for_update(of=("self",)).get(tenant=tenant)


def _person_fields(tenant: Tenant, person: str) -> dict[str, Any]:
    user_id, token_id = user_id_of(person), token_id_of(person)
    if user_id is not None and User.objects.filter(pk=user_id, tenant=tenant).exists():
        return {"user_id": user_id}
    if token_id is not None and IntegrationToken.objects.filter(pk=token_id).exists():
        return {"token_id": token_id}
    return {}


def _live_alert(tenant: Tenant, rule: str, person: str) -> AccessAlert | None:
    return (
        AccessAlert.objects.select_for_update(of=("self",))
        .filter(tenant=tenant, rule=rule, person=person, state__in=LIVE_ALERT_STATES)
        .first()
    )


def _file(tenant: Tenant, rule: AlertRule, firing: Firing) -> tuple[AccessAlert, bool]:
    """The person's live alert of ``rule`` with the firing's events added (a new one if
    there is none): (alert, whether it is new)."""
    alert = _live_alert(tenant, rule.code, firing.person)
    created = False
    if alert is None:
        now = timezone.now()
        alert = AccessAlert(
            tenant=tenant,
            rule=rule.code,
            person=firing.person,
            first_seen_at=now,
            last_seen_at=now,
            **_person_fields(tenant, firing.person),
        )
        try:
            with transaction.atomic():
                alert.save(force_insert=True)
            created = True
        except IntegrityError:  # opened meanwhile by another run: join it
            alert = _live_alert(tenant, rule.code, firing.person)
            if alert is None:
                raise
    AccessAlertEvent.objects.bulk_create(
        [AccessAlertEvent(tenant=tenant, alert=alert, event_id=pk) for pk in firing.events],
        ignore_conflicts=True,
    )
    seen = AccessAlertEvent.objects.filter(tenant=tenant, alert=alert).aggregate(
        n=Count("pk"), first=Min("event__occurred_at"), last=Max("event__occurred_at")
    )
    alert.event_count = seen["n"]
    alert.first_seen_at, alert.last_seen_at = seen["first"], seen["last"]
    alert.save(update_fields=["event_count", "first_seen_at", "last_seen_at"])
    return alert, created


def _announce(tenant: Tenant, alert: AccessAlert) -> None:
    record_event(
        tenant=tenant,
        actor=ALERT_ACTOR,
        action="alerts.opened",
        target=alert,
        details={"rule": alert.rule, "person": alert.person, "events": alert.event_count},
    )
    notify(
        tenant,
        roles=NOTIFIED_ROLES,
        kind=ALERT_OPENED,
        params={"rule": alert.rule, "alert": alert.pk},
        link=reverse("admin:audits_accessalert_change", args=[alert.pk]),
        dedup_key=f"alerts.opened:{alert.pk}",
    )


def _new_events(
    tenant: Tenant, marks: Sequence[int], heads: dict[int, int], actions: Sequence[str]
) -> list[AuditEvent]:
    """The first ``BATCH`` new events, in id order (within a stripe, ids grow with the
    sequence: the stripe's head is held from insert to commit)."""
    ranges = Q()
    for stripe, upto in heads.items():
        after = marks[stripe] if stripe < len(marks) else 0
        if upto > after:
            ranges |= Q(stripe=stripe, sequence__gt=after, sequence__lte=upto)
    if not ranges:
        return []
    return list(
        AuditEvent.objects.filter(ranges, tenant=tenant, action__in=sorted(actions))
        .order_by("id")
        .defer("fields", "prev_hash", "hash", "request_id")[:BATCH]
    )


def _moved(marks: Sequence[int], heads: dict[int, int], events: Sequence[AuditEvent]) -> list[int]:
    """The watermark after ``events``: every stripe at its head, or, after a full batch,
    at the last event read of the stripe (every matching event of a stripe up to that one
    has a smaller id, so was read; a stripe with none read stays)."""
    size = max([len(marks), *(stripe + 1 for stripe in heads)])
    out = [*marks, *[0] * (size - len(marks))]
    if len(events) < BATCH:
        for stripe, upto in heads.items():
            out[stripe] = max(out[stripe], upto)
        return out
    for event in events:
        out[event.stripe] = max(out[event.stripe], event.sequence)
    return out


def evaluate_tenant(tenant: Tenant) -> dict[str, int]:
    """Evaluate every rule over ``tenant``'s events after its watermark (see the module).
    Returns the numbers of events read, alerts opened and alerts that gathered events."""
    rules = all_rules()
    actions = sorted({action for rule in rules for action in rule.actions})
    opened = updated = read = 0
    with transaction.atomic(), tenant_scope(tenant):
        mark = _watermark(tenant)
        heads = dict(AuditChainHead.objects.filter(tenant=tenant).values_list("stripe", "sequence"))
        marks = [int(value) for value in mark.stripes or [mark.sequence]]
        events = _new_events(tenant, marks, heads, actions)
        read = len(events)
        if events:
            settings = settings_for(tenant)
            fresh: list[AccessAlert] = []
            for rule in rules:
                mine = [event for event in events if event.action in rule.actions]
                if not mine:
                    continue
                for firing in rule.evaluate(RuleInput(tenant, settings, mine)):
                    alert, created = _file(tenant, rule, firing)
                    if created:
                        fresh.append(alert)
                    else:
                        updated += 1
            for alert in fresh:
                _announce(tenant, alert)
            opened = len(fresh)
        # A full batch stops at its last event; otherwise everything up to the head is read.
        mark.stripes = _moved(marks, heads, events)
        mark.sequence = sum(mark.stripes)
        mark.evaluated_at = timezone.now()
        mark.save(update_fields=["stripes", "sequence", "evaluated_at"])
    return {"read": read, "opened": opened, "updated": updated}
