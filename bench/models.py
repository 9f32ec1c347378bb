from __future__ import annotations

from django.db import models


class PlainOrder(models.Model):
    """The baseline: the same fields as an order, in plaintext, in a plain table (benchmarks only)."""

    name = models.CharField(max_length=100)
    phone = models.CharField(max_length=32)
    address = models.CharField(max_length=300)
    note = models.CharField(max_length=500, blank=True)
    items = models.JSONField()
    privacy_notice_version = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return str(self.pk)
