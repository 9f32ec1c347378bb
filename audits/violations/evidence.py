"""The kinds of evidence a violation can link (a registry: ``audits`` imports no later app).

Each kind registers how to read one of its objects within a tenant::

    from audits.violations.evidence import EvidenceTarget, register_evidence_kind

    def resolve_case(tenant, object_id):
        case = IncidentCase.objects.filter(tenant=tenant, code=object_id).first()  # in scope
        if case is None:
            return None                      # "not found in this tenant": a 400 naming the field
        return EvidenceTarget(case.code, reverse("admin:incidents_incidentcase_change", args=[case.pk]))

    register_evidence_kind("incident_case", _("Incident case"), resolve_case)

``resolve(tenant, object_id)`` runs inside the tenant's scope with the id as typed (a
string, stripped); it returns an ``EvidenceTarget`` — a readable label (no customer's
personal data: codes, action labels, dates) and a back-office URL (may be empty) — or
``None`` (or raises ``ObjectDoesNotExist``, ``ValueError`` or ``ValidationError``) when the
object is not the tenant's. The label is stored with the link when it is added; the URL is
asked again when the violation's page is shown (``target_of``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.audit_registry import action_label
from core.ids import parse_id
from tenants.models import Tenant

logger = logging.getLogger(__name__)

OBJECT_ID_MAX_LENGTH = 64


@dataclass(frozen=True)
class EvidenceTarget:
    label: str
    url: str = ""


Resolver = Callable[[Tenant, str], EvidenceTarget | None]


@dataclass(frozen=True)
class EvidenceKind:
    kind: str
    label: str | Promise
    resolve: Resolver


_kinds: dict[str, EvidenceKind] = {}


def register_evidence_kind(kind: str, label: str | Promise, resolve: Resolver) -> EvidenceKind:
    """Register (or register again, identically) the evidence kind ``kind`` (a short code:
    ``audit_event``, ``incident_case``, ``finding``, ``alert``). A different second
    registration under the same code is a programming error (``ValueError``)."""
    if not kind or len(kind) > 32 or not kind.replace("_", "").isalnum() or kind != kind.lower():
        raise ValueError(f"Evidence kind {kind!r} must be a short lower-case code.")
    spec = EvidenceKind(kind, label, resolve)
    known = _kinds.get(kind)
    if known is not None and known != spec:
        raise ValueError(f"Evidence kind {kind!r} is already registered differently.")
    _kinds[kind] = spec
    return spec


def unregister_evidence_kind(kind: str) -> None:
    """Forget a kind (tests)."""
    _kinds.pop(kind, None)


def evidence_kinds() -> list[EvidenceKind]:
    """Every registered kind, by label's code (stable order for forms)."""
    return sorted(_kinds.values(), key=lambda k: k.kind)


def kind_label(kind: str) -> str:
    spec = _kinds.get(kind)
    return str(spec.label) if spec is not None else kind


def resolve_evidence(
    tenant: Tenant, kind: object, object_id: object, *, field: str = "object_id"
) -> EvidenceTarget:
    """The object ``object_id`` of ``kind`` in ``tenant`` (inside its scope), or a
    ``ValidationError`` naming the field: an unknown kind (``kind``), an empty or over-long
    id, or an object that is not the tenant's (``field``)."""
    spec = _kinds.get(kind) if isinstance(kind, str) else None
    if spec is None:
        raise ValidationError({"kind": _("Choose a kind of evidence.")})
    text = object_id.strip() if isinstance(object_id, str) else ""
    if not text or len(text) > OBJECT_ID_MAX_LENGTH or "\x00" in text:
        raise ValidationError({field: _("Give the id of the %(kind)s.") % {"kind": spec.label}})
    try:
        target = spec.resolve(tenant, text)
    except (ObjectDoesNotExist, ValueError, ValidationError, TypeError):
        target = None
    if target is None:
        raise ValidationError(
            {
                field: _("%(kind)s %(id)s not found in your tenant.")
                % {"kind": spec.label, "id": text}
            }
        )
    return target


def target_of(tenant: Tenant, kind: str, object_id: str) -> EvidenceTarget | None:
    """The object's current label and URL, or ``None`` when it can no longer be read (its
    kind is not registered any more): the stored label is shown then."""
    spec = _kinds.get(kind)
    if spec is None:
        return None
    try:
        return spec.resolve(tenant, object_id)
    except Exception:  # a page must not break on one link
        logger.exception("evidence kind %s failed to resolve (tenant %s)", kind, tenant.pk)
        return None


# --- audits' own kind: an event of the tenant's audit log --------------------------------


def _resolve_audit_event(tenant: Tenant, object_id: str) -> EvidenceTarget | None:
    from audits.models import AuditEvent

    number = parse_id(object_id.lstrip("#"))
    if number is None:
        return None
    event = AuditEvent.objects.filter(pk=number, tenant_id=tenant.pk).first()
    if event is None:
        return None
    when = date_format(timezone.localtime(event.occurred_at, tenant.zone), "DATETIME_FORMAT")
    return EvidenceTarget(
        _("Audit event #%(id)d: %(action)s, %(when)s")
        % {"id": event.pk, "action": action_label(event.action), "when": when},
        reverse("admin:audits_auditevent_change", args=[event.pk]),
    )


AUDIT_EVENT = "audit_event"


def register_audit_event_kind() -> None:
    register_evidence_kind(AUDIT_EVENT, gettext_lazy("Audit event"), _resolve_audit_event)
