"""Training in the back office."""

from training import drill_admin  # noqa: F401  (registers DrillAdmin)
