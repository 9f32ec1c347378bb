"""Signals the vault sends to later layers, which subscribe in their ``AppConfig.ready()``
(the vault imports none of them)."""

from django.dispatch import Signal

# Sent once an erasure has committed (``transaction.on_commit``), with ``tenant``,
# ``subject_ids`` (the subjects erased now, not those erased before) and ``reason`` (an
# ``ErasureReason`` value). Receivers run outside the erasure's transaction: orders
# withdraws the subjects' live orders, incidents opens an anomaly on each.
subjects_erased = Signal()
