"""The audit log list's "access" filter (issue 20): the access events of one kind — a
reveal and a list's reveal alike — that the dashboard's access statistics count
(audits.access_rollups.ACCESS_ACTIONS). The reveals panels' numbers link to it
(``?access=reveal&purpose=delivery&since=...&until=...``)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from audits.access_rollups import actions_of
from audits.admin import AuditEventAdmin, KnownValueFilter
from audits.models import AccessKind


class AccessFilter(KnownValueFilter):
    title = _("access")
    parameter_name = "access"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, str(label)) for value, label in AccessKind.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        kind = self.value()
        return queryset.filter(action__in=actions_of(kind)) if kind else queryset


# Appended to the log's own filters (audits/admin.py imports this module at its end).
AuditEventAdmin.list_filter = [*AuditEventAdmin.list_filter, AccessFilter]
