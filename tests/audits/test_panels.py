"""The supervisor dashboard's panel registry (audits.panels): a panel a later app registers
in its ``ready()`` reaches exactly the roles it names, in order, without audits importing
that app."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import RequestFactory
from django.utils import timezone

from audits import panels
from audits.panels import Period, panels_for, register_panel, unregister_panel
from tenants.models import Role
from tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")

VIEWERS = {Role.SUPERVISOR, Role.PRIVACY_OFFICER, Role.TENANT_ADMIN}


def _context(request: Any, tenant: Any, period: Period) -> dict[str, Any]:
    return {"tenant_id": tenant.pk, "days": (period.end - period.start).days}


@pytest.fixture
def extra_panel() -> Iterator[str]:
    register_panel(
        "riders.test_panel",
        title="Riders' test panel",
        roles=[Role.DISPATCHER],
        order=5,
        template="riders/panels/test.html",
        context=_context,
    )
    yield "riders.test_panel"
    unregister_panel("riders.test_panel")


@pytest.mark.parametrize("role", list(Role))
def test_trainings_panel_reaches_supervisors_privacy_officers_and_admins_only(role: Role) -> None:
    user = UserFactory(tenant=TenantFactory(), roles=[role])
    keys = [panel.key for panel in panels_for(user)]
    assert ("training.coverage" in keys) == (role in VIEWERS)


def test_a_later_apps_panel_appears_for_its_roles_in_order(extra_panel: str) -> None:
    tenant = TenantFactory()
    dispatcher = UserFactory(tenant=tenant, roles=[Role.DISPATCHER, Role.SUPERVISOR])
    kitchen = UserFactory(tenant=tenant, roles=[Role.KITCHEN])
    keys = [panel.key for panel in panels_for(dispatcher)]
    # Order 5: after the compliance summary (0), before training's coverage (50).
    assert (keys.index(extra_panel) < keys.index("training.coverage"), panels_for(kitchen)) == (
        True,
        [],
    )


def test_a_panel_gives_its_context_with_itself(extra_panel: str) -> None:
    tenant = TenantFactory()
    user = UserFactory(tenant=tenant, roles=[Role.DISPATCHER])
    panel = panels_for(user)[0]
    now = timezone.now()
    context = panel.context_for(
        RequestFactory().get("/"), tenant, Period(now - timedelta(days=7), now)
    )
    assert context == {"tenant_id": tenant.pk, "days": 7, "panel": panel}


def test_anonymous_users_and_operators_see_no_panel() -> None:
    from django.contrib.auth.models import AnonymousUser

    from tests.factories import OperatorFactory

    assert (panels_for(AnonymousUser()), panels_for(OperatorFactory())) == ([], [])


def test_registering_again_identically_is_allowed_differently_refused(extra_panel: str) -> None:
    same = panels._panels[extra_panel]
    register_panel(
        extra_panel,
        title=same.title,
        roles=same.roles,
        order=same.order,
        template=same.template,
        context=same.context,
    )
    with pytest.raises(ValueError, match="already registered differently"):
        register_panel(
            extra_panel,
            title="Another",
            roles=[Role.RIDER],
            order=1,
            template="x.html",
            context=_context,
        )


@pytest.mark.parametrize(
    ("key", "roles", "message"),
    [
        ("nodot", [Role.SUPERVISOR], "must look like 'app.name'"),
        ("a.b", [], "names no role"),
    ],
)
def test_bad_registrations_are_refused(key: str, roles: list[Role], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        register_panel(key, title="t", roles=roles, order=1, template="t.html", context=_context)


def test_audits_panels_imports_no_later_app() -> None:
    tree = ast.parse(Path(panels.__file__).read_text())
    imported = {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    } | {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    later = {"training", "privacy", "orders", "incidents", "riders"}
    assert imported & later == set()


def test_period_query_names_its_local_days_both_included():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    from audits.panels import Period

    shanghai = ZoneInfo("Asia/Shanghai")
    with timezone.override(shanghai):
        period = Period(
            datetime(2026, 11, 1, tzinfo=shanghai), datetime(2026, 12, 1, tzinfo=shanghai)
        )
        assert period.query() == "since=2026-11-01&until=2026-11-30"
