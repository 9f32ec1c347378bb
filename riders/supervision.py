"""What riders contributes to the supervisor dashboard's compliance summary (issue 20):
§4.1.1, every active rider has signed the current confidentiality agreement. Registered
from ``RidersConfig.ready()`` (audits imports nothing of riders).

Counts rider profiles (a profile comes with a rider's first signature: a rider user who
never signed has none, and cannot be dispatched): three indexed queries."""

from __future__ import annotations

from django.db.models import QuerySet
from django.urls import reverse
from django.utils.translation import gettext_lazy, ngettext

from audits.compliance import Indicator, Status
from audits.panels import Period
from riders.models import AgreementSignature, ConfidentialityAgreement, Rider
from tenants.models import Tenant
from tenants.versioning import current_version


def active_riders() -> QuerySet[Rider]:
    return Rider.objects.filter(is_active=True, user__is_active=True)


def unsigned_riders(agreement: ConfidentialityAgreement) -> QuerySet[Rider]:
    """Active riders without a signature of ``agreement``."""
    signed = AgreementSignature.objects.filter(agreement=agreement).values("rider_id")
    return active_riders().exclude(pk__in=signed)


def agreements_indicator(tenant: Tenant, period: Period) -> Indicator:
    link = reverse("admin:riders_rider_changelist") + "?agreement=unsigned"
    current = current_version(ConfidentialityAgreement, tenant.pk)
    if current is None:
        return Indicator(
            Status.FAILING, gettext_lazy("No confidentiality agreement is published"), link
        )
    missing = unsigned_riders(current).count()
    total = active_riders().count()
    summary = ngettext(
        "%(n)d of %(total)d active rider has not signed agreement v%(v)d",
        "%(n)d of %(total)d active riders have not signed agreement v%(v)d",
        total,
    ) % {"n": missing, "total": total, "v": current.version}
    return Indicator(Status.FAILING if missing else Status.OK, summary, link)


def register() -> None:
    """From ``RidersConfig.ready()``."""
    from audits.compliance import register_indicator

    register_indicator(
        "riders.agreements",
        clause="4.1.1",
        title=gettext_lazy("Riders sign the confidentiality agreement"),
        order=411,
        compute=agreements_indicator,
    )
