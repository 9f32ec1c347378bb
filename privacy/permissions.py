"""Who may see which personal field in clear, for which purpose, at which stage.

One table (role × field × purpose × stage), read by the reveal service — and through it by
every page, the admin and the API — and tested as a matrix. Roles not named here (tenant
administrators, dispatchers, supervisors) see masks only. Rows marked ``object_permission``
also need django-guardian's permission on the record itself (a rider on their own order).
Rows with ``stages`` apply only while the record is at one of them: the stage is what the
record's model registers as ``stage`` in ``privacy.registry`` — for an order, its status
(orders registers it; the vault does not import orders). A row limited to stages never
applies to a record whose model has no stage.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _

from tenants.models import Role


class Purpose(models.TextChoices):
    DELIVERY = "delivery", _("Delivering the order")
    CUSTOMER_SERVICE_CALL = "customer_service_call", _("Customer-service call")
    ERASURE_REQUEST = "erasure_request", _("Handling an erasure request")
    INCIDENT_INVESTIGATION = "incident_investigation", _("Incident investigation")
    FOOD_PREPARATION = "food_preparation", _("Preparing the food")
    PACKING = "packing", _("Packing the order")
    IDENTITY_VERIFICATION = "identity_verification", _("Sending a verification code")
    CALL_RELAY = "call_relay", _("Connecting a relay call")
    DELIVERY_PIN_SMS = "delivery_pin_sms", _("Sending the delivery PIN by SMS")
    INCIDENT_NOTICE = "incident_notice", _("Notifying a customer of a data incident")
    ORDER_REMAKE = "order_remake", _("Re-making an order")


@dataclass(frozen=True)
class RevealRule:
    fields: frozenset[str]
    purposes: frozenset[str]
    object_permission: bool = False
    # None: at every stage.
    stages: frozenset[str] | None = None


def _rule(
    fields: str,
    purposes: list[Purpose],
    *,
    object_permission: bool = False,
    stages: str | None = None,
) -> RevealRule:
    return RevealRule(
        frozenset(fields.split()),
        frozenset(purposes),
        object_permission,
        None if stages is None else frozenset(stages.split()),
    )


REVEAL_RULES: dict[str, RevealRule] = {
    # ``description``: a customer's own words in a privacy report (incidents.PrivacyReport).
    Role.CUSTOMER_SERVICE: _rule(
        "name phone address note description", [Purpose.CUSTOMER_SERVICE_CALL]
    ),
    Role.PRIVACY_OFFICER: _rule(
        "name phone address note items description",
        [Purpose.ERASURE_REQUEST, Purpose.INCIDENT_INVESTIGATION],
    ),
    # Order contents: the kitchen cooks from them, packers check the bag against them, each
    # while the order is at their station (orders.selectors.STATION_STATUSES).
    Role.KITCHEN: _rule("items note", [Purpose.FOOD_PREPARATION], stages="received preparing"),
    Role.PACKER: _rule("items", [Purpose.PACKING], stages="preparing packed"),
    # A rider sees the full address and the customer's delivery note of their own assigned
    # order only, from the pickup until the order is finished (on the way or held in
    # storage); never the phone (calls go through the relay).
    Role.RIDER: _rule(
        "address note", [Purpose.DELIVERY], object_permission=True, stages="picked_up held"
    ),
}

# Scheduled jobs and backends (a SystemActor) use the phone to send a code (a verification
# code, the delivery PIN), an incident notice (incidents' approved notice) or bridge a call. No role has these purposes: people never see the
# number when a text is sent.
SYSTEM_RULE = _rule(
    "phone",
    [
        Purpose.IDENTITY_VERIFICATION,
        Purpose.CALL_RELAY,
        Purpose.DELIVERY_PIN_SMS,
        Purpose.INCIDENT_NOTICE,
    ],
)


# Copies inside the vault (``privacy.reveal.copy_sealed``): nobody sees the clear text,
# but the copy opens every field of the record, so it is checked like a reveal against
# this table of its own. Its purposes are in no row of REVEAL_RULES: ``reveal`` refuses
# them, and no reveal form offers them. Customer service re-makes lost or damaged food
# (orders.remake) with all of the order's fields.
COPY_RULES: dict[str, RevealRule] = {
    Role.CUSTOMER_SERVICE: _rule("name phone address note items", [Purpose.ORDER_REMAKE]),
}


def rules_allowing(
    roles: frozenset[str],
    field: str,
    purpose: str,
    *,
    staged: bool = True,
    table: dict[str, RevealRule] = REVEAL_RULES,
) -> list[RevealRule]:
    """The rules of ``roles`` that name ``field`` and ``purpose``, at any stage; with
    ``staged=False`` (a record without stages) only the rules not limited to stages.
    ``table``: REVEAL_RULES, or COPY_RULES for a copy inside the vault."""
    return [
        rule
        for role, rule in table.items()
        if role in roles
        and field in rule.fields
        and purpose in rule.purposes
        and (staged or rule.stages is None)
    ]


def at_stage(rule: RevealRule, stage: str | None) -> bool:
    return rule.stages is None or stage in rule.stages
