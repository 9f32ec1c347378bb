"""Audit actions of the supervision area 'dashboard' (issue 20): filled by that area."""

from core.audit_registry import AuditAction

ACTIONS: list[AuditAction] = []
