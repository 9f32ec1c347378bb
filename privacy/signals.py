"""Signals the vault sends to later layers, which subscribe in their ``AppConfig.ready()``
(the vault imports none of them)."""

from django.dispatch import Signal

# Sent once an erasure has committed (``transaction.on_commit``), with ``tenant``,
# ``subject_ids`` (the subjects erased now, not those erased before) and ``reason`` (an
# ``ErasureReason`` value). Receivers run outside the erasure's transaction: orders
# withdraws the subjects' live orders, incidents opens an anomaly on each.
subjects_erased = Signal()

# Sent when a run of the tenant key rotation finds every subject key under the newest data
# key version and the older versions retired, with ``tenant`` and ``version``; possibly more
# than once per version (a rerun): receivers act once.
tenant_key_rotated = Signal()
