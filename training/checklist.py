"""The inspection checklist items of training (issue 20, point 3; policy §7), registered
in audits' checklist registry from training's AppConfig.ready()."""

from django.utils.translation import gettext_lazy as _

from audits.checklists import ItemKind, register_checklist_item


def register() -> None:
    register_checklist_item(
        "training.new_staff_trained",
        clause="7.1",
        kind=ItemKind.RECORDS,
        text=_("New staff were trained and signed the confidentiality pledge"),
        scopes=("intake", "kitchen", "packing", "dispatch", "records"),
    )
    register_checklist_item(
        "training.periodic_training",
        clause="7.2",
        kind=ItemKind.RECORDS,
        text=_("Periodic training and drills are held"),
        scopes=("records",),
    )
