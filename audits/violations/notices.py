"""What the person a violation is about is told (issue 20, point 4): staff through the
back office's notifications (``tenants.notifications``, kinds registered from audits'
``ready()``), linking to their own page of the violation; riders on the rider page's home
(riders reads ``selectors.open_violations_of``), since they do not use the back office.
Parameters are the violation's number and clause only."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from audits.models import Violation
from tenants.notifications import notify, register_kind

RECORDED = "violations.recorded"
DECIDED = "violations.decided"
WITHDRAWN = "violations.withdrawn"


def _recorded(params: dict[str, Any]) -> str:
    return _(
        "A violation of §%(clause)s was recorded about you (%(number)s): read it and answer."
    ) % {
        "clause": params["clause"],
        "number": params["number"],
    }


def _decided(params: dict[str, Any]) -> str:
    return _("A sanction was decided on violation %(number)s: read it and answer.") % {
        "number": params["number"]
    }


def _withdrawn(params: dict[str, Any]) -> str:
    return _("Violation %(number)s about you was withdrawn.") % {"number": params["number"]}


def register_kinds() -> None:
    register_kind(RECORDED, _recorded)
    register_kind(DECIDED, _decided)
    register_kind(WITHDRAWN, _withdrawn)


def own_page_url(violation: Violation) -> str:
    """The person's page of the violation: the back office's for staff, the rider page's
    for a rider who is not staff."""
    person = violation.person
    if not person.is_staff:
        return reverse("riders:violation", args=[violation.pk])
    return reverse("admin:audits_violation_mine", args=[violation.pk])


def _tell(violation: Violation, kind: str) -> None:
    person = violation.person
    if not person.is_staff:
        return  # riders read it on their home page
    notify(
        violation.tenant,
        users=[person],
        kind=kind,
        params={"number": violation.number, "clause": violation.clause},
        link=own_page_url(violation),
        dedup_key=f"{kind}:{violation.pk}",
    )


def tell_recorded(violation: Violation) -> None:
    _tell(violation, RECORDED)


def tell_decided(violation: Violation) -> None:
    _tell(violation, DECIDED)


def tell_withdrawn(violation: Violation) -> None:
    _tell(violation, WITHDRAWN)
