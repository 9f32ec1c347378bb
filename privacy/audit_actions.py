"""The audit actions the privacy vault writes."""

from django.utils.translation import gettext_lazy as _

from core.audit_registry import AuditAction, AuditCategory

NAMESPACES = ("privacy",)

_ACCESS = AuditCategory.PERSONAL_DATA_ACCESS
_LIFECYCLE = AuditCategory.PERSONAL_DATA_LIFECYCLE
_SECURITY = AuditCategory.SECURITY

ACTIONS = [
    # Access: every read of a person's data, and every refusal or failure of one.
    # ``training_grace``: the courses (codes, "pledge") the training gate only warned about
    # (a new version within the tenant's grace period; training.gates).
    AuditAction(
        "privacy.reveal",
        _("Personal data revealed"),
        _ACCESS,
        frozenset({"subject", "training_grace"}),
    ),
    # ``suspension``: the id of the user's suspension that refused it (tenants.suspensions);
    # ``training_refused``: the training the gate found missing or expired ("code:state").
    AuditAction(
        "privacy.reveal_denied",
        _("Reveal of personal data refused"),
        _ACCESS,
        frozenset({"suspension", "training_refused"}),
    ),
    AuditAction(
        "privacy.reveal_failed",
        _("Reveal of personal data failed"),
        _ACCESS,
        frozenset({"error"}),
    ),
    # A list page's reveal (privacy.reveal.reveal_many): one event per page view naming the
    # records (ids only) and their count; refusals and failures likewise once per page.
    AuditAction(
        "privacy.reveal_batch",
        _("Personal data revealed for a list"),
        _ACCESS,
        frozenset({"objects", "count", "training_grace"}),
    ),
    AuditAction(
        "privacy.reveal_batch_denied",
        _("Reveal for a list refused"),
        _ACCESS,
        frozenset({"objects", "count", "training_refused"}),
    ),
    AuditAction(
        "privacy.reveal_batch_failed",
        _("Reveal for a list failed"),
        _ACCESS,
        frozenset({"objects", "count"}),
    ),
    AuditAction(
        "privacy.integrity_failure",
        _("Encrypted data failed its integrity check"),
        _ACCESS,
        frozenset({"error", "layer"}),
    ),
    AuditAction(
        "privacy.search",
        _("Customers searched by phone"),
        _ACCESS,
        frozenset({"candidates", "matches", "training_grace"}),
    ),
    # Refused by the rules (no details), a suspension or the training gate (as a reveal).
    AuditAction(
        "privacy.search_denied",
        _("Search by phone refused"),
        _ACCESS,
        frozenset({"suspension", "training_refused"}),
    ),
    # Lifecycle: a person's data comes, is kept, goes.
    AuditAction("privacy.subject_created", _("Customer record created"), _LIFECYCLE),
    AuditAction("privacy.subject_matched", _("Customer matched by phone"), _LIFECYCLE),
    AuditAction(
        "privacy.notice_published",
        _("Privacy notice published"),
        _LIFECYCLE,
        frozenset({"version"}),
    ),
    AuditAction(
        "privacy.retention_set", _("Retention period set"), _LIFECYCLE, frozenset({"days"})
    ),
    AuditAction(
        "privacy.subject_erased",
        _("Customer's personal data erased"),
        _LIFECYCLE,
        frozenset({"reason", "reference", "records"}),
    ),
    AuditAction(
        "privacy.erasure_request_completed",
        _("Erasure request completed"),
        _LIFECYCLE,
        frozenset({"channel", "reference"}),
    ),
    AuditAction("privacy.erasure_code_sent", _("Erasure verification code sent"), _LIFECYCLE),
    AuditAction(
        "privacy.erasure_replayed",
        _("Erasure repeated after a restore"),
        _LIFECYCLE,
        frozenset({"reference"}),
    ),
    # Security: keys, backups and the erasure ledger.
    AuditAction(
        "privacy.ledger_write_failed",
        _("Erasure ledger could not be written"),
        _SECURITY,
        frozenset({"subjects", "error"}),
    ),
    AuditAction(
        "privacy.ledger_reconciled",
        _("Erasure ledger reconciled"),
        _SECURITY,
        frozenset({"appended", "finished", "rebuilt"}),
    ),
    AuditAction(
        "privacy.ledger_damaged", _("Erasure ledger damaged"), _SECURITY, frozenset({"error"})
    ),
    AuditAction(
        "privacy.backup_restored",
        _("Backup restored"),
        _SECURITY,
        frozenset({"backups", "replayed"}),
    ),
    AuditAction(
        "privacy.erasure_loss_accepted",
        _("Loss of erasures accepted at a restore"),
        _SECURITY,
        frozenset({"reason", "problem"}),
    ),
    AuditAction(
        "privacy.backup_overdue",
        _("Backup overdue"),
        _SECURITY,
        frozenset({"last_verified", "hours"}),
    ),
    AuditAction(
        "privacy.master_key_rewrapped",
        _("Key rewrapped under the new master key"),
        _SECURITY,
        frozenset({"from", "to"}),
    ),
    AuditAction(
        "privacy.tenant_key_created", _("Tenant key created"), _SECURITY, frozenset({"version"})
    ),
    AuditAction(
        "privacy.tenant_key_retired", _("Tenant key retired"), _SECURITY, frozenset({"version"})
    ),
    AuditAction(
        "privacy.orphaned_keys_collected",
        _("Orphaned subject keys deleted"),
        _SECURITY,
        frozenset({"count"}),
    ),
    # Corrections (privacy.reveal.correct, copy_sealed): the fields, never a value.
    AuditAction(
        "privacy.corrected",
        _("Personal data corrected"),
        _LIFECYCLE,
        # ``moved_from``: a corrected phone moved the record to that phone's customer.
        frozenset({"subject", "moved_from"}),
    ),
    AuditAction(
        "privacy.sealed_copied",
        _("Personal data copied to a new record of the same customer"),
        _LIFECYCLE,
        frozenset({"from", "subject"}),
    ),
]
