"""Violations and sanctions (issue 20, point 4) in real Chromium: a supervisor records a
violation with an audit event as evidence and decides a suspension from reveal (1280 px);
the person opens the notification, reads the violation and answers; a rider reads theirs
from the notice on the rider's home and answers at 360 px. English and Chinese; axe-core
clean; no customer's data on any page. Screenshots: artifacts/browser/violations-*.png."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from audits.models import Violation, ViolationAnswer
from audits.services import record_event
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.browser.conftest import ARTIFACTS, desk_page
from tests.browser.roles import overflow, step, with_session
from tests.factories import PASSWORD, OrderFactory, TenantFactory, UserFactory, ViolationFactory
from tests.riders.conftest import make_rider

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

CUSTOMER_VALUES = ("欧阳娜娜", "13912345678", "张江路", "宫保鸡丁")


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_supervisor_records_and_decides_and_the_person_answers(
    browser: Any, live_server: Any, axe_source: str, language: str
) -> None:
    tenant = TenantFactory(name="Shanghai Eats")
    OrderFactory(tenant=tenant)
    supervisor = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR], username="sup-zhou")
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE], username="cs-li")
    with tenant_scope(tenant):
        event = record_event(tenant=tenant, actor=agent, action="user.password_changed")
    base = live_server.url
    locale = "en-US" if language == "en" else "zh-CN"
    page = desk_page(browser, locale)
    with_session(page, base, supervisor, language=language)
    prefix = f"violations-{language}"
    checks, widths, pages = [], {}, []

    page.goto(base + reverse("admin:audits_violation_add"))
    page.select_option("#id_person", str(agent.pk))
    page.select_option("#id_clause", "2.3.1")
    page.select_option("#id_severity", "serious")
    page.fill("#id_occurred_on", (timezone.localdate() - timedelta(days=1)).isoformat())
    page.fill("#id_description", "Revealed phones of orders outside their queue (see event).")
    page.select_option("#id_evidence_kind", "audit_event")
    page.fill("#id_evidence", str(event.pk))
    checks.append(step(page, axe_source, f"{prefix}-01-record-1280"))
    with page.expect_navigation():
        page.click("#record-submit")
    checks.append(step(page, axe_source, f"{prefix}-02-recorded-1280"))
    pages.append(page.content())
    evidence_link = page.locator("#evidence-list a").get_attribute("href")

    page.click("#decide-link")
    page.wait_for_load_state()
    page.fill("#id_suspend_reveal_until", (timezone.localdate() + timedelta(days=7)).isoformat())
    page.fill("#id_fine", "200")
    checks.append(step(page, axe_source, f"{prefix}-03-decide-1280"))
    with page.expect_navigation():
        page.click("#decide-submit")
    checks.append(step(page, axe_source, f"{prefix}-04-decided-1280"))
    widths["decided"] = overflow(page)
    pages.append(page.content())
    sanctions = page.locator("#sanction-list li").evaluate_all(
        "items => items.map(i => i.dataset.sanction)"
    )
    page.goto(base + reverse("admin:audits_violation_changelist"))
    checks.append(step(page, axe_source, f"{prefix}-05-list-1280"))
    widths["list"] = overflow(page)
    page.context.close()

    person = desk_page(browser, locale)
    with_session(person, base, agent, language=language)
    person.goto(base + reverse("admin:tenants_notification_changelist"))
    with person.expect_navigation():
        person.click("#notification-list li:last-child form:first-of-type button")
    person.wait_for_load_state()
    checks.append(step(person, axe_source, f"{prefix}-06-person-reads-1280"))
    person.fill("#id_text", "I called back customers of a late order; I will use my queue only.")
    with person.expect_navigation():
        person.click("#answer-submit")
    checks.append(step(person, axe_source, f"{prefix}-07-person-answered-1280"))
    pages.append(person.content())
    own = person.content()
    person.context.close()
    with tenant_scope(tenant):
        violation = Violation.objects.get()
        answer = ViolationAnswer.objects.get()
    assert (
        checks,
        widths,
        evidence_link,
        sanctions,
        violation.state,
        answer.stage,
        f"#{event.pk}" in own,
        [value in html for html in pages for value in CUSTOMER_VALUES],
    ) == (
        [
            (f"{prefix}-01-record-1280", [], []),
            (f"{prefix}-02-recorded-1280", [], []),
            (f"{prefix}-03-decide-1280", [], []),
            (f"{prefix}-04-decided-1280", [], []),
            (f"{prefix}-05-list-1280", [], []),
            (f"{prefix}-06-person-reads-1280", [], []),
            (f"{prefix}-07-person-answered-1280", [], []),
        ],
        {"decided": {"page": 0, "elements": []}, "list": {"page": 0, "elements": []}},
        reverse("admin:audits_auditevent_change", args=[event.pk]),
        ["fine", "suspend_reveal"],
        "answered",
        "decided",
        False,
        [False] * (len(CUSTOMER_VALUES) * 3),
    )


def _check_phone(page: Any, axe_source: str, name: str) -> tuple[str, int, list[str]]:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    page.evaluate("() => {\n" + axe_source + "\n}")
    found = page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']}))
        .violations.filter(v => ['serious', 'critical'].includes(v.impact)).map(v => v.id)""")
    return (name, width, found)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_rider_reads_and_answers_a_violation_on_the_rider_page_at_360(
    browser: Any, live_server: Any, axe_source: str, language: str
) -> None:
    tenant = TenantFactory()
    supervisor = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    rider = make_rider(tenant, username=f"rider-{language}")
    violation = ViolationFactory(
        tenant=tenant,
        person=rider.user,
        recorder=supervisor,
        clause="4.3.2",
        description="Told a neighbour which flat the order was for.",
    )
    context = browser.new_context(
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="en-US" if language == "en" else "zh-CN",
    )
    page = context.new_page()
    base = live_server.url
    page.goto(f"{base}/rider/login/")
    page.fill("#id_username", rider.user.username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    prefix = f"violations-rider-{language}"
    checks = [_check_phone(page, axe_source, f"{prefix}-01-home-360")]
    page.click(f"#violation-notice-{violation.pk} a")
    page.wait_for_load_state()
    checks.append(_check_phone(page, axe_source, f"{prefix}-02-violation-360"))
    page.fill("#answer-text", "I did not name the customer; I will not discuss orders again.")
    with page.expect_navigation():
        page.click("#answer-submit")
    checks.append(_check_phone(page, axe_source, f"{prefix}-03-answered-360"))
    answered = page.locator("#answers [data-stage]").count()
    context.close()
    assert (checks, answered) == (
        [
            (f"{prefix}-01-home-360", 0, []),
            (f"{prefix}-02-violation-360", 0, []),
            (f"{prefix}-03-answered-360", 0, []),
        ],
        1,
    )
