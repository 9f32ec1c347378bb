"""The single documented exception to the vault's boundary (privacy/api.py): the pieces
``orders.intake`` needs to write an order, its customer and their audit events in one SQL
statement (docs/decisions/0005). They hand out an opened subject key (``SubjectCipher``)
and SQL fragments, so no other module may import this one (import-linter contract
"privacy boundary" in pyproject.toml)."""

from __future__ import annotations

from privacy.keys import NewSubjectKey, SubjectCipher
from privacy.subjects import (
    contact_event,
    live_subject_sql,
    match_contact,
    new_intake_subject,
    new_subject,
    retired_key_sql,
    subject_for_contact,
)

__all__ = [
    "NewSubjectKey",
    "SubjectCipher",
    "contact_event",
    "live_subject_sql",
    "match_contact",
    "new_intake_subject",
    "new_subject",
    "retired_key_sql",
    "subject_for_contact",
]
