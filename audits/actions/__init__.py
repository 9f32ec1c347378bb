"""audits' own audit actions, one module per area of supervision (issue 20), so that each
area declares its actions without touching the others' (``audits/audit_actions.py`` joins
them)."""
