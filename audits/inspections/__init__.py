"""Inspections (issue 20, point 3; policy §6.1.1–6.1.2): planned inspections whose
checklists come from the policy's clauses (``audits.checklists``), findings item by item
with evidence files, a follow-up for each failure, overdue follow-ups flagged and notified,
recurring inspections planned by the daily job.

- ``services``: the writes (plan, start, record a finding, complete, close a follow-up);
- ``evidence``: the evidence files (type from the bytes, SHA-256, storage, serving);
- ``selectors``: the reads (scoped, bounded);
- ``jobs`` and ``tasks``: the daily job (overdue notices, next occurrences);
- ``supervision``: the dashboard panel, the §6.1.1 indicator and the evidence pack's section.
"""
