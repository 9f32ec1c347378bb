"""The inspection checklist items of delivery (issue 20, point 3; policy §4), registered
in audits' checklist registry from riders' AppConfig.ready()."""

from django.utils.translation import gettext_lazy as _

from audits.checklists import ItemKind, register_checklist_item


def register() -> None:
    register_checklist_item(
        "riders.agreements_signed",
        clause="4.1.1",
        kind=ItemKind.RECORDS,
        text=_("Every rider has signed the current confidentiality agreement"),
        scopes=("dispatch",),
    )
    register_checklist_item(
        "riders.pickup_discreet",
        clause="4.2",
        kind=ItemKind.INTERVIEW,
        text=_("Riders pick up without exposing order details and do not linger"),
        scopes=("dispatch",),
    )
    register_checklist_item(
        "riders.transit_hidden",
        clause="4.3",
        kind=ItemKind.ON_SITE,
        text=_("In transit, orders are kept out of sight and never discussed"),
        scopes=("dispatch",),
    )
    register_checklist_item(
        "riders.handover_identity",
        clause="4.4",
        kind=ItemKind.INTERVIEW,
        text=_("Riders confirm the recipient's identity at handover"),
        scopes=("dispatch",),
    )
