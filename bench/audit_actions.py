"""The audit action the benchmarks append (bench/run.py's audit-chain bench)."""

from django.utils.translation import gettext_lazy as _

from core.audit_registry import AuditAction, AuditCategory

NAMESPACES = ("bench",)

ACTIONS = [AuditAction("bench.append", _("Benchmark event"), AuditCategory.OTHER)]
