"""Issue 18's acceptance in real Chromium at 1280 px: a privacy officer logs in through the
form (enrolling the second factor), opens a leak case through the add form, ends a rider's
sessions (the rider is logged out; the timeline says so), links an affected customer by
order code, drafts the customer notice, reads its preview, approves it and follows its
sending (the worker's run done in-process, as a worker would). Every page is reloaded after
each POST: nothing is sent twice, the state stays. Each step is screenshot into
artifacts/browser/incident-acceptance-*.png; axe-core, the console and the CSP are clean.
Then the same case page in Chinese: the panels used show no English."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.models import (
    AffectedCustomer,
    CaseEvent,
    CaseNotice,
    IncidentCase,
    NoticeDelivery,
    NoticeState,
)
from incidents.tasks import send_case_notice
from privacy.sms import MemorySmsBackend, sms_backend
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.browser.conftest import ARTIFACTS
from tests.browser.roles import clean, log_in, step, with_session
from tests.factories import OrderFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

# The panels the walk uses; their visible text must be Chinese on the Chinese page (the
# notice's English preview, marked lang="en", aside).
PANELS = ["#case-state", "#containment", "#affected", "#notice", "#timeline"]

PANEL_LATIN_TEXT = """([selectors, ignored]) => {
  const seen = new Set();
  for (const root of document.querySelectorAll(selectors.join(','))) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const el = node.parentElement;
      if (!el || el.closest('[lang=en], code, kbd, script, style, template')) continue;
      if (el.tagName !== 'OPTION' && el.offsetParent === null) continue;
      let text = node.textContent.replace(/\\s+/g, ' ').trim();
      for (const name of ignored) text = text.split(name).join('');
      text = text.replace(/\\b[A-Z0-9]{5}-[A-Z0-9]{5}\\b/g, '').replace(/\\buser-\\d+\\b/g, '')
        .replace(/\\bS-[A-Z0-9]+\\b/g, '');  // a customer's subject reference
      if (/[A-Za-z]{3,}/.test(text)) seen.add(node.textContent.replace(/\\s+/g, ' ').trim());
    }
  }
  return [...seen];
}"""

# What staff type is shown as typed: the user's words, not the page's.
REASON = "Phone lost with the rider app open"
CONTACT = "privacy@example.com"
NOTICE = {
    "#notice-cause_zh": "骑手手机在3号路线丢失。",
    "#notice-cause_en": "A rider's phone was lost on route 3.",
    "#notice-harm_zh": "他人可能看到您的姓名和地址。",
    "#notice-harm_en": "Someone may see your name and address.",
    "#notice-measures_zh": "我们已注销该手机上的登录。",
    "#notice-measures_en": "We ended the phone's sessions.",
    "#notice-advice_zh": "请留意可疑来电。",
    "#notice-advice_en": "Beware of unexpected calls.",
    "#notice-contact": CONTACT,
}


@pytest.fixture(autouse=True)
def outbox(settings: Any) -> Any:
    settings.BAOMI_SMS_BACKEND = "privacy.sms.MemorySmsBackend"
    sms_backend.cache_clear()
    MemorySmsBackend.outbox.clear()
    yield MemorySmsBackend.outbox
    sms_backend.cache_clear()


def _watch(page: Any) -> list[str]:
    """Console errors and uncaught exceptions of ``page``, as they come."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def _post(page: Any, selector: str) -> None:
    """Submit with ``selector`` and wait for the redirect's page."""
    with page.expect_navigation():
        page.click(selector)


def _reload(page: Any) -> str:
    """Reload (a GET: the POST is not sent again) and return the main column's text."""
    response = page.reload()
    assert response is not None and response.request.method == "GET", page.url
    return str(page.locator("#main").inner_text())


def test_a_privacy_officer_opens_a_case_contains_it_and_approves_a_notice(
    desktop: Any, live_server: Any, axe_source: str, outbox: list[tuple[str, str]]
) -> None:
    base = live_server.url
    tenant = TenantFactory(name="Shanghai Eats")
    UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER], username="po-wang")
    rider = UserFactory(tenant=tenant, roles=[Role.RIDER], username="rider-chen")
    order = OrderFactory(tenant=tenant)
    rider_page = desktop.context.browser.new_context().new_page()
    with_session(rider_page, base, rider)
    rider_page.goto(base + "/rider/")
    errors = _watch(desktop)

    log_in(desktop, base, "po-wang", shot_prefix="incident-acceptance")
    desktop.goto(base + reverse("admin:incidents_incidentcase_add"))
    checks = [step(desktop, axe_source, "incident-acceptance-01-add-form")]
    discovered = timezone.localtime(timezone.now() - timedelta(hours=1))
    desktop.fill("#id_title", "Rider's phone lost on route 3")
    desktop.select_option("#id_severity", "major")
    desktop.fill("#id_severity_reason", "Photos of labels on the phone")
    desktop.select_option("#id_kind", "lost_device")
    desktop.check("#id_data_categories_0")
    desktop.check("#id_data_categories_2")
    desktop.fill("#id_affected_customers", "1")
    desktop.fill("#id_discovered_at_0", discovered.strftime("%Y-%m-%d"))
    desktop.fill("#id_discovered_at_1", discovered.strftime("%H:%M:%S"))
    desktop.fill("#id_discovered_by", "Dispatcher on duty")
    _post(desktop, "button[name=_save], input[name=_save]")
    with tenant_scope(tenant):
        case = IncidentCase.objects.get()
    on_case_page = desktop.url.startswith(
        base + reverse("admin:incidents_incidentcase_change", args=[case.pk])
    )
    opened = _reload(desktop)
    checks.append(step(desktop, axe_source, "incident-acceptance-02-case-open"))

    desktop.select_option("#containment-form select[name=action]", "end_sessions")
    desktop.select_option("#containment-form select[name=target]", label="rider-chen")
    desktop.fill("#containment-form input[name=reason]", REASON)
    _post(desktop, "#containment-form button[type=submit]")
    contained = desktop.locator("#main").inner_text()
    _reload(desktop)
    checks.append(step(desktop, axe_source, "incident-acceptance-03-sessions-ended"))
    timeline = desktop.locator("#timeline").inner_text()
    rider_page.goto(base + "/rider/")
    rider_logged_out = "/login" in rider_page.url
    rider_page.context.close()

    desktop.fill("#affected-codes", order.code)
    _post(desktop, "#affected-form button[type=submit]")
    _reload(desktop)
    checks.append(step(desktop, axe_source, "incident-acceptance-04-customer-linked"))
    affected = desktop.locator("#affected").inner_text()

    for selector, value in NOTICE.items():
        desktop.fill(selector, value)
    _post(desktop, "#notice-form button[type=submit]")
    _reload(desktop)
    checks.append(step(desktop, axe_source, "incident-acceptance-05-notice-preview"))
    preview = (
        desktop.locator("#notice-preview-zh").inner_text(),
        desktop.locator("#notice-preview-en").inner_text(),
    )

    _post(desktop, "#notice-approve-form button[type=submit]")
    approved = desktop.locator("#main").inner_text()
    _reload(desktop)
    checks.append(step(desktop, axe_source, "incident-acceptance-06-notice-approved"))
    queued = desktop.locator("#notice-progress").inner_text()
    with tenant_scope(tenant):
        notice = CaseNotice.objects.get(case=case)
    send_case_notice.apply(args=[tenant.pk, notice.pk])  # what the worker does
    _reload(desktop)
    checks.append(step(desktop, axe_source, "incident-acceptance-07-notice-sent"))
    sent = (
        desktop.locator("#notice-state").inner_text(),
        desktop.locator("#notice-progress").inner_text(),
    )
    _reload(desktop)
    with tenant_scope(tenant):
        counts = (
            CaseEvent.objects.filter(case=case).count(),
            AffectedCustomer.objects.filter(case=case, notified_at__isnull=False).count(),
            NoticeDelivery.objects.filter(notice=notice).count(),
            CaseNotice.objects.get(pk=notice.pk).state,
        )
    assert (
        checks,
        on_case_page,
        case.title in opened and "Reported" in opened,
        "Done: End a user's sessions." in contained,
        "End a user's sessions: rider-chen · 1 session ended" in timeline,
        timeline.count("End a user's sessions"),
        rider_logged_out,
        order.code in affected and "1 customer linked, of 1 declared" in affected,
        "3号路线" in preview[0] and "route 3" in preview[1],
        "The notice is approved; it is being sent" in approved,
        "Pending: 1" in queued,
        "Sent" in sent[0] and "Sent: 1" in sent[1],
        len(outbox),
        counts,
        errors,
        [url for url in desktop.requests_made if order.code in url],
    ) == (
        [
            clean("incident-acceptance-01-add-form"),
            clean("incident-acceptance-02-case-open"),
            clean("incident-acceptance-03-sessions-ended"),
            clean("incident-acceptance-04-customer-linked"),
            clean("incident-acceptance-05-notice-preview"),
            clean("incident-acceptance-06-notice-approved"),
            clean("incident-acceptance-07-notice-sent"),
        ],
        True,
        True,
        True,
        True,
        1,
        True,
        True,
        True,
        True,
        True,
        True,
        1,
        (2, 1, 1, NoticeState.SENT),
        [],
        [],
    )

    # The same case page in Chinese, once.
    zh = desktop.context.browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="zh-CN"
    )
    page = zh.new_page()
    zh_errors = _watch(page)
    with_session(page, base, UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER]), "zh-hans")
    page.goto(base + reverse("admin:incidents_incidentcase_change", args=[case.pk]))
    zh_check = step(page, axe_source, "incident-acceptance-08-case-zh")
    leaks = page.evaluate(
        PANEL_LATIN_TEXT,
        [
            PANELS,
            ["po-wang", "rider-chen", "Shanghai Eats", "CNY", order.code, REASON, CONTACT],
        ],
    )
    zh.close()
    # Also saved for the translators, should the catalogue lag behind the templates.
    (ARTIFACTS / "incident-acceptance-zh-leaks.txt").write_text("\n".join(leaks) + "\n")
    assert (zh_check, zh_errors, leaks) == (clean("incident-acceptance-08-case-zh"), [], [])
