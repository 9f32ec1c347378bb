"""An incident case as evidence of a violation, or as the loss behind a compensation
(audits.violations.evidence: audits cannot import incidents, so incidents registers the
kind from its ``ready()``). The case is found by its code (or its number) in the tenant;
its label is its code and severity, never its title or customers' data."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audits.violations.evidence import EvidenceTarget, register_evidence_kind
from core.ids import parse_id
from incidents.models import CaseSeverity, IncidentCase
from tenants.models import Tenant

INCIDENT_CASE = "incident_case"


def resolve_case(tenant: Tenant, object_id: str) -> EvidenceTarget | None:
    cases = IncidentCase.objects.filter(tenant_id=tenant.pk)
    case = cases.filter(code=object_id).first()
    if case is None and (number := parse_id(object_id)) is not None:
        case = cases.filter(pk=number).first()
    if case is None:
        return None
    return EvidenceTarget(
        _("Incident case %(code)s (%(severity)s)")
        % {"code": case.code, "severity": CaseSeverity(case.severity).label},
        reverse("admin:incidents_incidentcase_change", args=[case.pk]),
    )


def register() -> None:
    register_evidence_kind(INCIDENT_CASE, gettext_lazy("Incident case"), resolve_case)
