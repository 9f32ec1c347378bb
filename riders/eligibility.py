"""Who may be dispatched. Each requirement returns the reason a rider is not eligible, or
None. The training issue adds its requirement here (riders may import training; training
never imports riders): a completed induction and a signed confidentiality pledge."""

from __future__ import annotations

from collections.abc import Callable

from django.utils.translation import gettext as _

from riders.models import AgreementSignature, ConfidentialityAgreement, Rider

Requirement = Callable[[Rider], str | None]


def _active(rider: Rider) -> str | None:
    if not rider.is_active or not rider.user.is_active:
        return _("the rider is deactivated")
    return None


def _on_shift(rider: Rider) -> str | None:
    return None if rider.on_shift else _("the rider is not on shift")


def _signed_current_agreement(rider: Rider) -> str | None:
    current = ConfidentialityAgreement.objects.order_by("-version").first()
    if current is None:
        return _("no confidentiality agreement is published")
    if not AgreementSignature.objects.filter(rider=rider, agreement=current).exists():
        return _("no signature of confidentiality agreement v%(version)d") % {
            "version": current.version
        }
    return None


DISPATCH_REQUIREMENTS: list[Requirement] = [_active, _on_shift, _signed_current_agreement]


def dispatch_blockers(rider: Rider) -> list[str]:
    """Why ``rider`` cannot be dispatched now (empty when eligible)."""
    return [reason for check in DISPATCH_REQUIREMENTS if (reason := check(rider))]
