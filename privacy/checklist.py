"""The inspection checklist items of customers' data (issue 20, point 3; policy §2),
registered in audits' checklist registry from privacy's AppConfig.ready()."""

from django.utils.translation import gettext_lazy as _

from audits.checklists import ItemKind, register_checklist_item


def register() -> None:
    register_checklist_item(
        "privacy.minimal_collection",
        clause="2.1",
        kind=ItemKind.INTERVIEW,
        text=_("Only the data delivery needs is collected, and customers are told why"),
        scopes=("intake", "records"),
    )
    register_checklist_item(
        "privacy.encrypted_storage",
        clause="2.2.1",
        kind=ItemKind.RECORDS,
        text=_("Customers' data is stored encrypted"),
        scopes=("records",),
    )
    register_checklist_item(
        "privacy.backups_verified",
        clause="2.2.2",
        kind=ItemKind.RECORDS,
        text=_("Backups are made regularly, kept safe and verified"),
        scopes=("records",),
    )
    register_checklist_item(
        "privacy.use_for_delivery",
        clause="2.3",
        kind=ItemKind.INTERVIEW,
        text=_("Staff use customers' data for delivery only, and never copy or share it"),
        scopes=("intake", "dispatch", "records"),
    )
    register_checklist_item(
        "privacy.erasure_recorded",
        clause="2.4",
        kind=ItemKind.RECORDS,
        text=_("Data is erased on time, and each erasure is recorded"),
        scopes=("records",),
    )
