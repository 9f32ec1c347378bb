"""The evidence pack's training section (issue 20, point 6; audits.pack_sections): training
coverage (training.coverage.coverage_of) as of the period's end — or now, for a period
that has not ended — per role and per person (usernames, roles, each required course's
and the pledge's state with its date), and the drills held in the period."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy

from audits.evidence_values import local_time
from audits.pack_sections import PackFile, PackSection, register_pack_section
from audits.panels import Period
from tenants.models import Role, Tenant
from training.coverage import SHOWN_ORDER, Coverage, TenantCoverage, coverage_of
from training.models import Drill

PEOPLE_HEADER = (
    gettext_lazy("username"),
    gettext_lazy("roles"),
    gettext_lazy("requirement"),
    gettext_lazy("course or pledge"),
    gettext_lazy("state"),
    gettext_lazy("date"),
)


def _role_rows(coverage: TenantCoverage) -> list[Sequence[Any]]:
    return [
        (row.label, row.people, *(row.counts[state] for state in SHOWN_ORDER))
        for row in coverage.roles
    ]


def _people_rows(coverage: TenantCoverage) -> Iterator[Sequence[Any]]:
    titles = {r.key: r.title for r in coverage.requirements}
    for person in coverage.people:
        roles = ", ".join(str(Role(role).label) for role in person.roles)
        for key, cell in person.cells.items():
            yield (person.username, roles, key, titles.get(key, key), cell.state.label, cell.at)


def training(tenant: Tenant, period: Period) -> PackSection:
    when = min(period.end, timezone.now())
    coverage = coverage_of(tenant, language=get_language() or "zh-hans", now=when)
    drills = Drill.objects.filter(
        tenant=tenant, held_at__gte=period.start, held_at__lt=period.end
    ).count()
    people = [p for p in coverage.people if p.cells]
    current = [p for p in people if p.worst() == Coverage.CURRENT]
    behind = [p for p in people if p.worst() in (Coverage.OVERDUE, Coverage.FAILED)]
    role_header = (
        gettext_lazy("role"),
        gettext_lazy("people"),
        *(state.label for state in SHOWN_ORDER),
    )
    return PackSection(
        files=[
            PackFile("training_coverage_roles.csv", role_header, _role_rows(coverage)),
            PackFile("training_coverage_people.csv", PEOPLE_HEADER, _people_rows(coverage)),
        ],
        summary=[
            (gettext_lazy("Staff with required training"), len(people)),
            (gettext_lazy("Fully current"), len(current)),
            (gettext_lazy("Overdue or failed"), len(behind)),
            (gettext_lazy("Drills held in the period"), drills),
        ],
        notes=[
            gettext_lazy("Coverage as of %(time)s (the period's end, or now if it has not ended).")
            % {"time": local_time(when)},
        ],
    )


def register() -> None:
    register_pack_section(
        "training.coverage", title=gettext_lazy("Training coverage"), order=40, build=training
    )
