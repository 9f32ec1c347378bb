"""A supervisor runs an inspection (issue 20, point 3) in real Chromium at 1280 px, in
English and in Chinese: plans it from the back office, starts it, records each item's
finding without JavaScript — one failed with a photo and a follow-up — and completes it;
then opens the follow-ups' list filtered to open ones. Each page is axe-core clean with no
CSP violation and fits the width (the checklist also at 1024 px). Screenshots in artifacts/browser/inspections-*.png."""

from __future__ import annotations

from typing import Any

import pytest

from audits.inspections.services import local_today
from audits.models import FollowUp, Inspection
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.audits.inspection_support import PNG
from tests.browser.roles import overflow, step, with_session
from tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


@pytest.fixture(autouse=True)
def evidence_in_tmp(settings: Any, tmp_path: Any) -> None:
    settings.INSPECTION_EVIDENCE_DIR = tmp_path / "inspection-evidence"


def _submit(page: Any, selector: str) -> None:
    with page.expect_navigation():
        page.click(selector)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_supervisor_plans_records_and_completes_an_inspection(
    desktop: Any, live_server: Any, axe_source: str, language: str, tmp_path: Any
) -> None:
    tenant = TenantFactory(name="Shanghai Eats")
    boss = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR], username="sup-zhou")
    UserFactory(tenant=tenant, roles=[Role.PACKER], username="packer-li")
    photo = tmp_path / "label.png"
    photo.write_bytes(PNG)
    base = live_server.url
    prefix = f"inspections-{language}"
    with_session(desktop, base, boss, language=language)
    checks, widths = [], {}

    desktop.goto(f"{base}/admin/audits/inspection/add/")
    desktop.fill("#id_title", "Packing station, November")
    desktop.select_option("#id_scope", "packing")
    desktop.fill("#id_planned_for", local_today(tenant).isoformat())
    desktop.select_option("#id_inspector", str(boss.pk))
    desktop.select_option("#id_recurrence", "quarterly")
    checks.append(step(desktop, axe_source, f"{prefix}-plan-1280"))
    _submit(desktop, "button[name=_save]")
    with tenant_scope(tenant):
        inspection = Inspection.objects.get()
    checks.append(step(desktop, axe_source, f"{prefix}-planned-1280"))
    _submit(desktop, "#inspection-start button")

    first, *others = desktop.locator("form.baomi-finding-form").evaluate_all(
        "forms => forms.map(f => f.id)"
    )
    form = f"#{first}"
    desktop.check(f"{form} input[value=fail]")
    desktop.fill(f"{form} textarea[name=note]", "A label showed a full name")
    desktop.set_input_files(f"{form} input[type=file]", str(photo))
    desktop.select_option(f"{form} select[name=owner]", label="packer-li")
    desktop.fill(f"{form} input[name=due_on]", local_today(tenant).isoformat())
    checks.append(step(desktop, axe_source, f"{prefix}-recording-1280"))
    _submit(desktop, f"{form} button[type=submit]")
    for form_id in others:
        desktop.check(f"#{form_id} input[value=pass]")
        _submit(desktop, f"#{form_id} button[type=submit]")
    checks.append(step(desktop, axe_source, f"{prefix}-findings-1280"))
    widths["findings"] = overflow(desktop)
    _submit(desktop, "#inspection-complete button")
    checks.append(step(desktop, axe_source, f"{prefix}-completed-1280"))
    widths["completed"] = overflow(desktop)
    desktop.set_viewport_size({"width": 1024, "height": 800})
    desktop.reload()
    checks.append(step(desktop, axe_source, f"{prefix}-completed-1024"))
    widths["completed-1024"] = overflow(desktop)
    desktop.set_viewport_size({"width": 1280, "height": 900})
    state = desktop.get_attribute("#inspection", "data-state")
    results = desktop.locator(".baomi-checklist-item").evaluate_all(
        "items => items.map(i => i.dataset.result)"
    )

    desktop.goto(f"{base}/admin/audits/followup/?state__exact=open")
    checks.append(step(desktop, axe_source, f"{prefix}-follow-ups-1280"))
    widths["follow-ups"] = overflow(desktop)
    listed = desktop.locator("#result_list tbody tr").count()
    with tenant_scope(tenant):
        follow_up = FollowUp.objects.select_related("owner").get()
    assert (checks, widths, state, results, listed, follow_up.owner.username) == (
        [
            (f"{prefix}-plan-1280", [], []),
            (f"{prefix}-planned-1280", [], []),
            (f"{prefix}-recording-1280", [], []),
            (f"{prefix}-findings-1280", [], []),
            (f"{prefix}-completed-1280", [], []),
            (f"{prefix}-completed-1024", [], []),
            (f"{prefix}-follow-ups-1280", [], []),
        ],
        {
            "findings": {"page": 0, "elements": []},
            "completed": {"page": 0, "elements": []},
            "completed-1024": {"page": 0, "elements": []},
            "follow-ups": {"page": 0, "elements": []},
        },
        "completed",
        ["fail", "pass", "pass"],
        1,
        "packer-li",
    )
    assert inspection.scope == "packing"
