"""A privacy officer's leak case in real Chromium at 1280 px: the drill case's page, a move
to "contained", and a containment action (ending a rider's sessions) that takes effect;
each step screenshot into artifacts/browser/, axe-core and the CSP clean."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.cases import open_case
from incidents.models import CaseState, IncidentCase
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.browser.roles import clean, step, with_session
from tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def test_a_privacy_officer_contains_a_drill_case(
    desktop: Any, live_server: Any, axe_source: str
) -> None:
    tenant = TenantFactory(name="Shanghai Eats")
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER], username="po-wang")
    rider = UserFactory(tenant=tenant, roles=[Role.RIDER], username="rider-chen")
    case = open_case(
        tenant=tenant,
        title="Rider's phone lost on route 3",
        severity="major",
        severity_reason="Photos of labels on the phone",
        kind="lost_device",
        data_categories=["name", "address"],
        affected_customers=12,
        discovered_at=timezone.now() - timedelta(hours=1),
        discovered_by="Dispatcher on duty",
        is_drill=True,
        actor=officer,
    )
    rider_page = desktop.context.browser.new_context().new_page()
    with_session(rider_page, live_server.url, rider)
    rider_page.goto(live_server.url + "/rider/")
    with_session(desktop, live_server.url, officer)
    url = live_server.url + reverse("admin:incidents_incidentcase_change", args=[case.pk])
    desktop.goto(url)
    checks = [step(desktop, axe_source, "incident-case-1-reported")]
    drill_shown = desktop.locator(".baomi-drill").first.is_visible()

    desktop.fill("#move-note", "Phone reported lost")
    with desktop.expect_navigation():
        desktop.click("#move-form button[value=contained]")
    checks.append(step(desktop, axe_source, "incident-case-2-contained"))
    moved = desktop.locator("#main").inner_text()

    desktop.select_option("#containment-form select[name=action]", "end_sessions")
    desktop.select_option("#containment-form select[name=target]", label="rider-chen")
    desktop.fill("#containment-form input[name=reason]", "Phone lost with the rider app open")
    with desktop.expect_navigation():
        desktop.click("#containment-form button[type=submit]")
    checks.append(step(desktop, axe_source, "incident-case-3-sessions-ended"))
    timeline = desktop.locator("#timeline").inner_text()
    rider_page.goto(live_server.url + "/rider/")
    rider_logged_out = "/login" in rider_page.url
    rider_page.context.close()
    with tenant_scope(tenant):
        state = IncidentCase.objects.get(pk=case.pk).state
    assert (
        checks,
        drill_shown,
        "The case is now “Contained”." in moved,
        "End a user's sessions: rider-chen" in timeline,
        rider_logged_out,
        state,
    ) == (
        [
            clean("incident-case-1-reported"),
            clean("incident-case-2-contained"),
            clean("incident-case-3-sessions-ended"),
        ],
        True,
        True,
        True,
        True,
        CaseState.CONTAINED,
    )
