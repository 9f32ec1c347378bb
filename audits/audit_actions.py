"""The audit actions audits writes: supervision (issue 20). Each area lists its actions in
``audits/actions/<area>.py``; this module joins them for ``register_app_actions``."""

from audits.actions import alerts, anchoring, dashboard, evidence, inspections, violations

NAMESPACES = ("dashboard", "alerts", "inspections", "violations", "anchors", "evidence")

ACTIONS = [
    *dashboard.ACTIONS,  # dashboard.*
    *alerts.ACTIONS,  # alerts.*
    *inspections.ACTIONS,  # inspections.*
    *violations.ACTIONS,  # violations.*
    *anchoring.ACTIONS,  # anchors.*
    *evidence.ACTIONS,  # evidence.*
]
