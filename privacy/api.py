"""The vault's public API: the only privacy module later layers (orders, incidents, riders)
import. Everything else in ``privacy`` is internal and may change shape; import-linter
(``make lint``, contracts in pyproject.toml) refuses an import past this module. The one
documented exception is ``privacy.intake_sql``, used by ``orders.intake`` alone.

Clear personal data lives only inside the vault's frames: callers pass records and ids,
receive masked values, and see clear text only through ``reveal``, which checks permission
and writes an audit event its caller cannot roll back (docs/privacy.md).
"""

from __future__ import annotations

from privacy.errors import (
    DecryptionIntegrityError,
    KeyRetiredError,
    RevealDenied,
    RevealUntrained,
    SubjectErasedError,
    VaultError,
    refusal_html,
)
from privacy.evidence import (
    EvidenceError,
    SealedEvidence,
    discard_evidence,
    open_evidence,
    seal_evidence,
)
from privacy.masking import district_of, mask_address, mask_name, mask_phone
from privacy.models import DataSubject, NoticeChannel, NoticeRecord, PrivacyNotice
from privacy.notices import notice_record, publish_notice, record_notice_shown
from privacy.permissions import Purpose
from privacy.phone import normalise_phone
from privacy.registry import register, register_reference_resolver, register_retention_source
from privacy.reveal import (
    RevealResult,
    copy_sealed,
    correct,
    may_reveal,
    reveal,
    reveal_choices,
    reveal_many,
    seal,
)
from privacy.rotation import RotationProgress, rotation_progress, start_rotation_job
from privacy.selectors import current_notice, notice_version
from privacy.signals import subjects_erased, tenant_key_rotated
from privacy.sms import SmsNotSent, text_customer
from privacy.subjects import (
    LIMITS,
    clean_contact,
    clean_text,
    create_subject,
    find_subjects_by_phone,
)

__all__ = [
    # Errors a caller maps to answers.
    "DecryptionIntegrityError",
    "KeyRetiredError",
    "RevealDenied",
    "RevealUntrained",
    "refusal_html",
    "SmsNotSent",
    "SubjectErasedError",
    "VaultError",
    # Models later layers refer to (foreign keys, choices).
    "DataSubject",
    "NoticeChannel",
    "NoticeRecord",
    "PrivacyNotice",
    # Input checks and display masks.
    "LIMITS",
    "clean_contact",
    "clean_text",
    "normalise_phone",
    "district_of",
    "mask_address",
    "mask_name",
    "mask_phone",
    # Customers, reveal, sealing.
    "Purpose",
    "create_subject",
    "find_subjects_by_phone",
    "may_reveal",
    "reveal",
    "reveal_choices",
    "reveal_many",
    "RevealResult",
    "seal",
    # Corrections of a record's sealed fields, and their copy to a new record of the same
    # customer (audited with field names only).
    "correct",
    "copy_sealed",
    "text_customer",
    # Incident evidence files, sealed under the backup key ring.
    "EvidenceError",
    "SealedEvidence",
    "discard_evidence",
    "open_evidence",
    "seal_evidence",
    # Sent after an erasure commits (tenant, subject_ids, reason): later layers withdraw
    # what can no longer be served (orders, incidents).
    "subjects_erased",
    # Tenant data key rotation as a background job (an incident's containment): start it,
    # read its progress; ``tenant_key_rotated`` (tenant, version) is sent when it is done.
    "RotationProgress",
    "rotation_progress",
    "start_rotation_job",
    "tenant_key_rotated",
    # Privacy notices.
    "current_notice",
    "notice_record",
    "notice_version",
    "publish_notice",
    "record_notice_shown",
    # Registration of a later layer's sealed models, retention sources and order codes.
    "register",
    "register_reference_resolver",
    "register_retention_source",
]
