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


class FlaggedFilter(KnownValueFilter):
    """The events that fired an alert of one rule (``?flagged=reveal_outside_hours``): the
    list behind the dashboard's "reveals outside working hours, a shift or an
    assignment" (audits.alert_panels.outside_panel), which counts those events."""

    title = _("fired an alert")
    parameter_name = "flagged"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        from audits.alert_rules import rule_choices

        return [(code, str(label)) for code, label in rule_choices()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        from audits.models import AccessAlertEvent

        rule = self.value()
        if not rule:
            return queryset
        fired = AccessAlertEvent.objects.filter(alert__rule=rule).values("event_id")
        return queryset.filter(pk__in=fired)


AuditEventAdmin.list_filter = [*AuditEventAdmin.list_filter, FlaggedFilter]
