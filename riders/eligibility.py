"""Who may be dispatched: the requirements a rider must meet, checked for a whole list of
riders at once in a constant number of queries (no query per rider).
The training gate (``_trained``: a current pass of the riders' courses) is one of them.

A requirement is a callable ``requirement(riders) -> {rider.pk: reason}``: it receives every
candidate of one call (a sequence of ``Rider`` of one tenant, loaded with
``select_related("user")``, run inside that tenant's scope) and returns the reason, a
translated sentence, for each rider it refuses; riders it accepts are left out. What it
needs beyond the riders themselves (the tenant's current agreement, the signatures of all
candidates) it computes once per call, in a fixed number of queries whatever the number of
riders. ``DISPATCH_REQUIREMENTS`` is a list: the training issue appends its requirement (a
completed induction and a signed confidentiality pledge) in its AppConfig.ready() — riders
may import training; training never imports riders.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from riders.models import AgreementSignature, ConfidentialityAgreement, Rider
from tenants.models import SuspensionScope
from tenants.suspensions import active_suspensions
from tenants.versioning import current_version
from training.gates import dispatch_gate

Requirement = Callable[[Sequence[Rider]], Mapping[int, str]]


def _active(riders: Sequence[Rider]) -> Mapping[int, str]:
    return {
        rider.pk: _("the rider is deactivated")
        for rider in riders
        if not rider.is_active or not rider.user.is_active
    }


def _on_shift(riders: Sequence[Rider]) -> Mapping[int, str]:
    return {rider.pk: _("the rider is not on shift") for rider in riders if not rider.on_shift}


def _signed_current_agreement(riders: Sequence[Rider]) -> Mapping[int, str]:
    current = current_version(ConfidentialityAgreement, riders[0].tenant_id) if riders else None
    if current is None:
        return {rider.pk: _("no confidentiality agreement is published") for rider in riders}
    signed = set(
        AgreementSignature.objects.filter(
            agreement=current, rider_id__in=[rider.pk for rider in riders]
        ).values_list("rider_id", flat=True)
    )
    reason = _("no signature of confidentiality agreement v%(version)d") % {
        "version": current.version
    }
    return {rider.pk: reason for rider in riders if rider.pk not in signed}


def _not_suspended(riders: Sequence[Rider]) -> Mapping[int, str]:
    """Not suspended from dispatch (tenants.suspensions: an incident's containment, a
    sanction): one query for all the candidates."""
    held = active_suspensions([rider.user_id for rider in riders], SuspensionScope.DISPATCH)
    reasons: dict[int, str] = {}
    zone = riders[0].tenant.zone if held else None  # one tenant per call
    for rider in riders:
        suspension = held.get(rider.user_id)
        if suspension is None:
            continue
        if suspension.ends_at is None:
            reasons[rider.pk] = _("the rider is suspended from dispatch until it is lifted")
        else:
            when = timezone.localtime(suspension.ends_at, zone)
            reasons[rider.pk] = _("the rider is suspended from dispatch until %(when)s") % {
                "when": date_format(when, "DATETIME_FORMAT")
            }
    return reasons


def _trained(riders: Sequence[Rider]) -> Mapping[int, str]:
    """A current pass of every published course riders must take (training.gates; under
    the tenant's grace period after a new version, a warning only — not a blocker)."""
    gates = dispatch_gate([rider.user_id for rider in riders], riders[0].tenant)
    reasons: dict[int, str] = {}
    for rider in riders:
        gate = gates[rider.user_id]
        if not gate.open:
            reasons[rider.pk] = "; ".join(gate.reasons())
    return reasons


DISPATCH_REQUIREMENTS: list[Requirement] = [
    _active,
    _on_shift,
    _signed_current_agreement,
    _not_suspended,
    _trained,
]


def dispatch_blockers_of(riders: Sequence[Rider]) -> dict[int, list[str]]:
    """Why each of ``riders`` cannot be dispatched now, by rider pk (an empty list when
    eligible), in a number of queries that does not grow with the number of riders."""
    blockers: dict[int, list[str]] = {rider.pk: [] for rider in riders}
    if not riders:
        return blockers
    for requirement in DISPATCH_REQUIREMENTS:
        for pk, reason in requirement(riders).items():
            blockers[pk].append(reason)
    return blockers


def dispatch_blockers(rider: Rider) -> list[str]:
    """Why ``rider`` cannot be dispatched now (empty when eligible)."""
    return dispatch_blockers_of([rider])[rider.pk]
