"""The inspection checklist items of the order stages (issue 20, point 3; policy §3),
registered in audits' checklist registry from orders' AppConfig.ready()."""

from django.utils.translation import gettext_lazy as _

from audits.checklists import ItemKind, register_checklist_item


def register() -> None:
    register_checklist_item(
        "orders.intake_screen_private",
        clause="3.1.1",
        kind=ItemKind.ON_SITE,
        text=_("The order intake screen cannot be seen by anyone else"),
        scopes=("intake",),
    )
    register_checklist_item(
        "orders.access_authorised",
        clause="3.1.2",
        kind=ItemKind.RECORDS,
        text=_("Only authorised staff open and handle orders in the system"),
        scopes=("intake", "records"),
    )
    register_checklist_item(
        "orders.kitchen_no_discussion",
        clause="3.2.1",
        kind=ItemKind.INTERVIEW,
        text=_("Kitchen staff do not discuss orders where others can hear"),
        scopes=("kitchen",),
    )
    register_checklist_item(
        "orders.kitchen_kept_apart",
        clause="3.2.2",
        kind=ItemKind.ON_SITE,
        text=_("Order items are kept apart from unrelated goods"),
        scopes=("kitchen",),
    )
    register_checklist_item(
        "orders.label_no_name",
        clause="3.3.1",
        kind=ItemKind.ON_SITE,
        text=_("Labels show no full name or phone number"),
        scopes=("packing",),
    )
    register_checklist_item(
        "orders.packaging_sealed",
        clause="3.3.2",
        kind=ItemKind.ON_SITE,
        text=_("Packaging is sealed so that the contents and order details stay hidden"),
        scopes=("packing",),
    )
