"""The inspection checklist items of incidents and feedback (issue 20, point 3; policy
§5.1, §6.2), registered in audits' checklist registry from incidents' AppConfig.ready()."""

from django.utils.translation import gettext_lazy as _

from audits.checklists import ItemKind, register_checklist_item


def register() -> None:
    register_checklist_item(
        "incidents.response_plan",
        clause="5.1",
        kind=ItemKind.RECORDS,
        text=_("The leak response plan is in place and its legal clocks were met"),
        scopes=("records",),
    )
    register_checklist_item(
        "incidents.feedback_handled",
        clause="6.2",
        kind=ItemKind.RECORDS,
        text=_("Customer feedback is investigated and answered on time"),
        scopes=("intake", "records"),
    )
