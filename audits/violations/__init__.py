"""Violations and sanctions (issue 20, point 4; policy §6.3.1–6.3.2, §2.3.2).

- ``evidence``: the registry of evidence kinds (audit events here; incident cases from
  incidents; inspection findings and alerts from their areas).
- ``services``: record, add evidence, decide the sanction, answer, close, withdraw.
- ``selectors``: every read (scoped, bounded), the repeat count.
- ``notices``: what the person is told (back-office notifications).
- ``reports``: the dashboard panel, the §6.3.1 indicator, the evidence pack's section.
docs/decisions/0016-violations-and-sanctions.md says why it is built this way."""
