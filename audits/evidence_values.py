"""Readable values for the evidence pack's sections (issue 20, point 6), shared by every app
that registers one (audits.pack_sections): who an actor label (``user:12``,
``system:retention-sweep``) is — a username and roles, never a person's name — and how a
time is written. Bounded queries: one for the users, one for their roles."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from django.utils import timezone
from django.utils.translation import gettext as _

from audits.panels import Period
from core.ids import parse_id
from tenants.models import Membership, Role, Tenant, User


def period_of(tenant: Tenant, first_day: date, last_day: date) -> Period:
    """The period from ``first_day``'s midnight to the midnight after ``last_day``, in the
    tenant's time zone."""
    zone = tenant.zone
    return Period(
        start=timezone.make_aware(datetime.combine(first_day, time.min), zone),
        end=timezone.make_aware(datetime.combine(last_day + timedelta(days=1), time.min), zone),
    )


def local_time(value: datetime | None) -> str:
    """A time in the active (the tenant's) time zone, to the second: ``2026-11-30 14:05:09``."""
    if value is None:
        return ""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")


class People:
    """Actor labels to ``username`` and role labels, read for the labels asked and cached;
    users of another tenant are not read (the tenant filter is explicit)."""

    def __init__(self, tenant: Tenant) -> None:
        self._tenant_id = tenant.pk
        self._users: dict[int, tuple[str, str]] = {}

    def load(self, labels: Iterable[str]) -> None:
        wanted = set()
        for label in labels:
            kind, _sep, rest = (label or "").partition(":")
            if kind == "user" and (number := parse_id(rest)) is not None:
                wanted.add(number)
        self.load_ids(wanted)

    def load_ids(self, ids: Iterable[int]) -> None:
        wanted = {pk for pk in ids if pk not in self._users}
        if not wanted:
            return
        names = dict(
            User.objects.filter(pk__in=wanted, tenant_id=self._tenant_id).values_list(
                "pk", "username"
            )
        )
        roles: dict[int, list[str]] = {}
        for user_id, role in (
            Membership.objects.filter(user_id__in=list(names), tenant_id=self._tenant_id)
            .order_by("role")
            .values_list("user_id", "role")
        ):
            roles.setdefault(user_id, []).append(str(Role(role).label))
        for pk in wanted:
            if pk in names:
                self._users[pk] = (names[pk], ", ".join(roles.get(pk, [])))
            else:
                self._users[pk] = (_("user #%(id)s (deleted)") % {"id": pk}, "")

    def of_id(self, pk: int | None) -> tuple[str, str]:
        if pk is None:
            return "", ""
        if pk not in self._users:
            self.load_ids([pk])
        return self._users[pk]

    def of(self, label: str) -> tuple[str, str]:
        """(who, roles) for an actor label: a username and its roles, a system job's name,
        an integration token's id."""
        kind, _sep, rest = (label or "").partition(":")
        if kind == "user" and (number := parse_id(rest)) is not None:
            return self.of_id(number)
        if kind == "system" and rest:
            return _("System: %(name)s") % {"name": rest}, ""
        if kind == "token" and parse_id(rest) is not None:
            return _("Integration token #%(id)s") % {"id": rest}, ""
        return label, ""
