"""The investigation of a leak case (issue 18, §5.1): a timeline of linked audit events,
responsible staff and findings, and evidence files kept with their chain of custody.

Who may: the case managers of the case's tenant (``cases.may_manage_cases``); anyone else
is refused with ``PermissionDenied``. An audit event or a user is looked up in the case's
tenant only: any other id is a ``ValidationError`` that says "not found" (another tenant's
event is not told apart from one that does not exist). Each addition is one transaction
with its audit event; nothing is ever changed or deleted. A closed case keeps and shows
everything, and takes no new item until it is reopened.

Evidence files are sealed under the backup key ring through ``privacy.api`` (the plaintext
never touches the disk); the row records the plaintext's SHA-256 and size, who added it and
when. A download checks both on the way out: a file that does not match is refused with a
``Conflict`` and the failure audited; every download is audited (the file's id and hash,
never its name or contents)."""

from __future__ import annotations

import unicodedata
import uuid
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import router, transaction
from django.utils.translation import gettext as _

from audits.models import AuditEvent
from audits.services import record_event
from core.errors import Conflict
from incidents.cases import _lock, _require_manager, _text
from incidents.models import (
    EVIDENCE_LABEL_MAX_LENGTH,
    FINDING_MAX_LENGTH,
    FINDING_MAX_LINES,
    CaseState,
    EvidenceFile,
    IncidentCase,
    InvestigationItem,
    InvestigationKind,
)
from privacy.api import EvidenceError, discard_evidence, open_evidence, seal_evidence
from tenants.actors import Actor, actor_label
from tenants.models import User
from tenants.scoping import tenant_scope


def max_evidence_bytes() -> int:
    return int(settings.EVIDENCE_MAX_BYTES)


def clean_finding(value: object) -> str:
    """A finding: at most 500 characters and 10 lines, no other control characters."""
    if not isinstance(value, str):
        raise ValidationError({"text": _("Must be text.")})
    text = unicodedata.normalize("NFC", value).replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.strip() for line in text.strip().split("\n")]
    text = "\n".join(lines)
    if any(unicodedata.category(char) == "Cc" for char in text.replace("\n", "")):
        raise ValidationError({"text": _("Must not contain control characters.")})
    if not text:
        raise ValidationError({"text": _("This field is required.")})
    if len(text) > FINDING_MAX_LENGTH:
        raise ValidationError(
            {"text": _("At most %(limit)d characters.") % {"limit": FINDING_MAX_LENGTH}}
        )
    if len(lines) > FINDING_MAX_LINES:
        raise ValidationError(
            {"text": _("At most %(limit)d lines.") % {"limit": FINDING_MAX_LINES}}
        )
    return text


EVIDENCE_EXTENSIONS = frozenset(
    [
        "pdf",
        "png",
        "jpg",
        "jpeg",
        "gif",
        "webp",
        "txt",
        "csv",
        "json",
        "log",
        "xml",
        "eml",
        "msg",
        "zip",
        "7z",
        "mp4",
        "mov",
        "wav",
        "mp3",
        "docx",
        "xlsx",
        "pptx",
    ]
)


def evidence_extension(value: object) -> str:
    """The extension kept from an uploaded file's name: one of ``EVIDENCE_EXTENSIONS``
    (lower case), else "bin". Nothing else of the name is kept: it may hold personal data
    (a customer's name, phone or address)."""
    raw = value if isinstance(value, str) else ""
    stem, dot, ext = raw.rpartition(".")
    ext = ext.strip().lower()
    return ext if dot and stem and ext in EVIDENCE_EXTENSIONS else "bin"


def evidence_file_name(code: str, number: int, extension: str) -> str:
    """The stored (and downloaded) name: ``evidence-<case code>-<n>.<ext>``."""
    return f"evidence-{code}-{number}.{extension}"


def _open_for_changes(case: IncidentCase) -> IncidentCase:
    locked = _lock(case)
    if locked.state == CaseState.CLOSED:
        raise Conflict(_("The case is closed: reopen it before adding to its investigation."))
    return locked


def _add_item(
    *,
    case: IncidentCase,
    actor: Actor,
    kind: InvestigationKind,
    audit_event: AuditEvent | None = None,
    staff: User | None = None,
    text: str = "",
) -> InvestigationItem:
    locked = _open_for_changes(case)
    item = InvestigationItem(
        tenant=locked.tenant,
        case=locked,
        kind=kind,
        audit_event=audit_event,
        staff=staff,
        text=text,
        added_by=actor_label(actor),
    )
    item.save(force_insert=True)
    record_event(
        tenant=locked.tenant,
        actor=actor,
        action="incidents.investigation_added",
        target=locked,
        details={
            "case": locked.pk,
            "item": item.pk,
            "kind": kind.value,
            "event": audit_event.pk if audit_event is not None else None,
            "target": actor_label(staff) if staff is not None else None,
            "drill": locked.is_drill,
        },
    )
    return item


def link_audit_event(*, case: IncidentCase, event_id: object, actor: Actor) -> InvestigationItem:
    """Link the audit event ``event_id`` of the case's tenant to its investigation (once)."""
    _require_manager(actor, case.tenant_id)
    number = _id(event_id)
    if number is None:
        raise ValidationError({"event": _("Give the audit event's id (a number).")})
    with transaction.atomic(), tenant_scope(case.tenant):
        event = AuditEvent.objects.filter(pk=number, tenant_id=case.tenant_id).first()
        if event is None:
            raise ValidationError(
                {"event": _("Audit event %(id)d not found in your tenant's log.") % {"id": number}}
            )
        if InvestigationItem.objects.filter(case=case, audit_event=event).exists():
            raise Conflict(_("This audit event is already linked to the case."))
        return _add_item(
            case=case, actor=actor, kind=InvestigationKind.AUDIT_EVENT, audit_event=event
        )


def add_staff(*, case: IncidentCase, user_id: object, actor: Actor) -> InvestigationItem:
    """Name a user of the case's tenant as responsible for (part of) the investigation."""
    _require_manager(actor, case.tenant_id)
    number = _id(user_id)
    user = (
        User.objects.filter(pk=number, tenant_id=case.tenant_id).first()
        if number is not None
        else None
    )
    if user is None:
        raise ValidationError({"staff": _("User not found in your tenant: choose from the list.")})
    with transaction.atomic(), tenant_scope(case.tenant):
        if InvestigationItem.objects.filter(case=case, staff=user).exists():
            raise Conflict(_("This staff member is already responsible on the case."))
        return _add_item(case=case, actor=actor, kind=InvestigationKind.STAFF, staff=user)


def add_finding(*, case: IncidentCase, text: object, actor: Actor) -> InvestigationItem:
    """Record a finding: a short text (a few lines at most), no personal data."""
    _require_manager(actor, case.tenant_id)
    cleaned = clean_finding(text)
    with transaction.atomic(), tenant_scope(case.tenant):
        return _add_item(case=case, actor=actor, kind=InvestigationKind.FINDING, text=cleaned)


def add_evidence(
    *,
    case: IncidentCase,
    name: object,
    source: IO[bytes],
    size: int,
    actor: Actor,
    label: object = "",
) -> EvidenceFile:
    """Seal ``source`` (``size`` bytes, at most ``EVIDENCE_MAX_BYTES``, not empty) in the
    tenant's evidence folder and record it with its SHA-256 and size (audited:
    ``incidents.evidence_added``). If the record cannot be written the sealed file is
    removed: no file without its record. The uploaded ``name`` gives only its extension
    (``evidence_extension``); the file is named ``evidence-<case code>-<n>.<ext>``, and
    ``label`` is staff's short one-line description of what it is (optional, no personal
    data)."""
    _require_manager(actor, case.tenant_id)
    what = _text("label", label, limit=EVIDENCE_LABEL_MAX_LENGTH, required=False)
    limit = max_evidence_bytes()
    if size <= 0:
        raise ValidationError({"file": _("The file is empty.")})
    if size > limit:
        raise ValidationError(
            {
                "file": _("The file is too large: at most %(mb)s MB.")
                % {"mb": f"{limit / (1024 * 1024):g}"}
            }
        )
    extension = evidence_extension(name)
    with tenant_scope(case.tenant):
        _open_for_changes_check(case)
    file_id = uuid.uuid4()
    try:
        sealed = seal_evidence(source, tenant_id=case.tenant_id, file_id=file_id)
    except (OSError, EvidenceError) as error:
        raise Conflict(_("The evidence file could not be stored; try again.")) from error
    try:
        if sealed.size != size or sealed.size == 0:
            raise ValidationError({"file": _("The upload was incomplete; try again.")})
        with transaction.atomic(), tenant_scope(case.tenant):
            locked = _open_for_changes(case)
            number = EvidenceFile.objects.filter(case=locked).count() + 1  # under the case lock
            evidence = EvidenceFile(
                tenant=locked.tenant,
                case=locked,
                file_id=file_id,
                name=evidence_file_name(locked.code, number, extension),
                label=what,
                size=sealed.size,
                sha256=sealed.sha256,
                key_version=sealed.key_version,
                added_by=actor_label(actor),
            )
            evidence.save(force_insert=True)
            record_event(
                tenant=locked.tenant,
                actor=actor,
                action="incidents.evidence_added",
                target=locked,
                details={
                    "case": locked.pk,
                    "evidence": evidence.pk,
                    "size": evidence.size,
                    "sha256": evidence.sha256,
                    "drill": locked.is_drill,
                },
            )
    except BaseException:
        discard_evidence(tenant_id=case.tenant_id, file_id=file_id)
        raise
    return evidence


def _open_for_changes_check(case: IncidentCase) -> None:
    state = IncidentCase.objects.filter(pk=case.pk).values_list("state", flat=True).first()
    if state == CaseState.CLOSED:
        raise Conflict(_("The case is closed: reopen it before adding to its investigation."))


def download_evidence(
    *, case: IncidentCase, evidence_id: int, actor: Actor
) -> tuple[EvidenceFile, bytes]:
    """The evidence file ``evidence_id`` of ``case`` and its contents, checked against the
    recorded SHA-256 and size (audited: ``incidents.evidence_downloaded``). Another case's
    or tenant's file is a 404 (``EvidenceFile.DoesNotExist``); a file that fails the
    check is refused with a ``Conflict``, and the failure is audited."""
    _require_manager(actor, case.tenant_id)
    with tenant_scope(case.tenant):
        evidence = EvidenceFile.objects.get(pk=evidence_id, case=case)
    try:
        data = open_evidence(
            tenant_id=case.tenant_id,
            file_id=evidence.file_id,
            sha256=evidence.sha256,
            size=evidence.size,
        )
    except EvidenceError:
        with _durable(), tenant_scope(case.tenant):
            record_event(
                tenant=case.tenant,
                actor=actor,
                action="incidents.evidence_check_failed",
                target=case,
                details={"case": case.pk, "evidence": evidence.pk, "drill": case.is_drill},
            )
        raise Conflict(
            _(
                "The evidence file #%(id)d failed its integrity check (it is missing, or it "
                "does not match its recorded SHA-256): it is not served. The failure is "
                "recorded in the audit log."
            )
            % {"id": evidence.pk}
        ) from None
    # Committed before the bytes are given out, whatever the caller does next.
    with _durable(), tenant_scope(case.tenant):
        record_event(
            tenant=case.tenant,
            actor=actor,
            action="incidents.evidence_downloaded",
            target=case,
            details={
                "case": case.pk,
                "evidence": evidence.pk,
                "sha256": evidence.sha256,
                "drill": case.is_drill,
            },
        )
    return evidence, data


def _durable() -> Any:
    """A durable transaction of its own on the audit log's database (as privacy.reveal's
    ``own_transaction``): inside a caller's transaction it raises ``RuntimeError`` instead
    of writing an audit event the caller could roll back."""
    return transaction.atomic(using=router.db_for_write(AuditEvent), durable=True)


def _id(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif (
        isinstance(value, str)
        and value.strip().isascii()
        and value.strip().isdigit()
        and len(value.strip()) < 19
    ):
        number = int(value.strip())
    else:
        return None
    return number if 0 < number < 2**63 else None
