"""A supervisor reads the access statistics panels (issue 20; audits.access_panels) in real
Chromium at 1280 and 1024 px, in English and in Chinese: both charts are drawn by unfold's
Chart.js under the CSP, axe-core finds no serious or critical violation, nothing sticks
out sideways, a top revealer's number leads to the audit log filtered to that person's
reveals (with the period's dates, which the log's list reads from issue 20's ``since`` and
``until`` filters, and shows only that person's rows), and no customer's data is on the
page. The panels are read where supervisors read them, on the dashboard (/supervisor/).
Screenshots in artifacts/browser/access-panels-*.png."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from audits.access_rollups import roll_up_access
from audits.services import Event, record_events
from tenants.actors import SystemActor
from tenants.models import Role
from tests.browser.roles import overflow, step, with_session
from tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

CUSTOMER_VALUES = ("欧阳娜娜", "13912345678", "张江路")
LOG = reverse("admin:audits_auditevent_changelist")


def _seed() -> Any:
    from unittest import mock

    tenant = TenantFactory(name="Shanghai Eats", time_zone="Asia/Shanghai")
    supervisor = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR], username="sup-zhou")
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE], username="cs-wang")
    rider = UserFactory(tenant=tenant, roles=[Role.RIDER], username="rider-li")
    both = UserFactory(
        tenant=tenant, roles=[Role.DISPATCHER, Role.CUSTOMER_SERVICE], username="disp-chen"
    )
    kitchen = UserFactory(tenant=tenant, roles=[Role.KITCHEN], username="kitchen-zhao")
    now = timezone.now()
    plan = [
        (agent, "customer_service_call", 5, 1),
        (rider, "delivery", 9, 0),
        (both, "delivery", 3, 4),
        (kitchen, "food_preparation", 2, 0),
        (SystemActor("dispatch"), "delivery", 1, 0),
    ]
    for day in range(7):
        at = now - timedelta(days=day, hours=day % 3)
        for actor, purpose, reveals, batches in plan:
            events = [Event(action="privacy.reveal", purpose=purpose)] * (reveals + day % 2)
            events += [
                Event(
                    action="privacy.reveal_batch",
                    purpose=purpose,
                    details={"count": 12, "objects": []},
                )
            ] * batches
            if day % 3 == 0 and actor is kitchen:
                events.append(Event(action="privacy.reveal_denied", purpose="delivery"))
            with mock.patch("django.utils.timezone.now", lambda at=at: at):
                record_events(tenant=tenant, actor=actor, events=events)
    roll_up_access(tenant)
    return supervisor, both


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_supervisor_reads_the_reveals_panels_at_1280_and_1024(
    desktop: Any, live_server: Any, axe_source: str, language: str
) -> None:
    supervisor, chen = _seed()
    base = live_server.url
    today = timezone.localdate(timezone=supervisor.tenant.zone)
    period = f"since={today - timedelta(days=6)}&until={today}"
    with_session(desktop, base, supervisor, language=language)
    desktop.goto(f"{base}/supervisor/?period=7d")
    desktop.wait_for_selector("canvas.chart")
    checks = [step(desktop, axe_source, f"access-panels-{language}-1280")]
    widths = {"1280": overflow(desktop)}
    html = desktop.content()
    drawn = desktop.evaluate(
        "[...document.querySelectorAll('canvas.chart')].map(c => Chart.getChart(c) !== undefined)"
    )
    desktop.set_viewport_size({"width": 1024, "height": 800})
    desktop.reload()
    checks.append(step(desktop, axe_source, f"access-panels-{language}-1024"))
    widths["1024"] = overflow(desktop)

    top = desktop.locator("[data-table=top] tbody tr:first-child")
    href = top.locator("a").first.get_attribute("href")
    person = top.locator("th").inner_text()
    top.locator("a").first.click()
    desktop.wait_for_load_state()
    checks.append(step(desktop, axe_source, f"access-panels-{language}-followed-1024"))
    rows = desktop.locator("#result_list tbody tr").all_inner_texts()
    assert (
        checks,
        widths,
        len(drawn) >= 2 and all(drawn),
        person,
        len(rows) > 0 and all("disp-chen" in row for row in rows),
        href,
        desktop.url.startswith(f"{base}{LOG}"),
        [value in html for value in CUSTOMER_VALUES],
        f'lang="{language}"' in html,
    ) == (
        [
            (f"access-panels-{language}-1280", [], []),
            (f"access-panels-{language}-1024", [], []),
            (f"access-panels-{language}-followed-1024", [], []),
        ],
        {"1280": {"page": 0, "elements": []}, "1024": {"page": 0, "elements": []}},
        True,
        "disp-chen",
        True,
        f"{LOG}?access=reveal&actor=user%3A{chen.pk}&{period}",
        True,
        [False] * len(CUSTOMER_VALUES),
        True,
    )
