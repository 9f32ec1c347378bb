"""The public privacy-report pages in real Chromium at a phone viewport: the order code,
the one-time code, the problem, the tracking code shown once; later the status page with a
fresh code shows the staff's answer. Screenshots go to artifacts/browser/; axe-core finds
no serious or critical violations on any step."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from incidents.models import PrivacyReport, ReportChallenge
from incidents.reports import answer_report
from incidents.tasks import match_report_challenge
from privacy.sms import MemorySmsBackend, sms_backend
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.browser.roles import latin_text, with_session
from tests.browser.test_audit_list import _fits_and_is_accessible
from tests.browser.test_rider_flow import _check_page
from tests.factories import OrderFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


@pytest.fixture(autouse=True)
def outbox(settings: Any) -> Iterator[list[tuple[str, str]]]:
    settings.BAOMI_SMS_BACKEND = "privacy.sms.MemorySmsBackend"
    sms_backend.cache_clear()
    MemorySmsBackend.outbox.clear()
    yield MemorySmsBackend.outbox
    sms_backend.cache_clear()


def _send_code(outbox: list[tuple[str, str]]) -> str:
    """What the worker does: match the newest challenge and text the code."""
    challenge = ReportChallenge.objects.order_by("-created_at").first()
    match_report_challenge.apply(args=[str(challenge.pk)])
    return re.search(r"\b(\d{6})\b", outbox[-1][1]).group(1)


def test_a_customer_files_a_report_and_reads_the_answer_in_chromium(
    phone: Any, live_server: Any, axe_source: str, outbox: list
) -> None:
    order = OrderFactory()
    phone.goto(f"{live_server.url}/privacy/report/")
    _check_page(phone, axe_source, "60-privacy-report-start")
    phone.fill("#order_code", order.code)
    phone.click("button[type=submit]")
    phone.wait_for_url(f"{live_server.url}/privacy/report/verify/")
    phone.fill("#code", _send_code(outbox))
    phone.select_option("#kind", "label")
    phone.fill("#description", "The label showed my full name and my building.")
    _check_page(phone, axe_source, "61-privacy-report-problem")
    phone.click("button[type=submit]")
    phone.wait_for_url(f"{live_server.url}/privacy/report/done/")
    _check_page(phone, axe_source, "62-privacy-report-tracking")
    tracking = phone.inner_text("#tracking-code").strip()

    with tenant_scope(order.tenant):
        report = PrivacyReport.objects.get()
    agent = UserFactory(tenant=order.tenant, roles=[Role.CUSTOMER_SERVICE])
    answer_report(report=report, answer="Thank you: the label no longer shows names.", actor=agent)

    phone.goto(f"{live_server.url}/privacy/report/status/")
    _check_page(phone, axe_source, "63-privacy-report-status-start")
    phone.fill("#tracking_code", tracking)
    phone.click("button[type=submit]")
    phone.wait_for_url(f"{live_server.url}/privacy/report/status/verify/")
    _check_page(phone, axe_source, "64-privacy-report-status-code")
    phone.fill("#code", _send_code(outbox))
    phone.click("button[type=submit]")
    phone.wait_for_url(f"{live_server.url}/privacy/report/status/show/")
    _check_page(phone, axe_source, "65-privacy-report-status")
    assert (
        phone.inner_text("#report-status").strip(),
        phone.inner_text("#report-answer").strip(),
        [url for url in phone.requests_made if order.code in url or "139" in url],
    ) == ("Answered", "Thank you: the label no longer shows names.", [])


def test_customer_service_answers_and_closes_a_report_in_the_back_office(
    desktop: Any, live_server: Any, axe_source: str, outbox: list
) -> None:
    from django.test import Client
    from django.urls import reverse

    order = OrderFactory()
    client = Client()
    client.post(reverse("incidents:report"), {"order_code": order.code})
    code = _send_code(outbox)
    client.post(
        reverse("incidents:report-verify"),
        {"code": code, "kind": "wrong_contact", "description": "A stranger called me."},
    )
    with tenant_scope(order.tenant):
        report = PrivacyReport.objects.get()
    agent = UserFactory(tenant=order.tenant, roles=[Role.CUSTOMER_SERVICE])
    base = live_server.url
    with_session(desktop, base, agent)
    desktop.goto(f"{base}/admin/incidents/privacyreport/")
    _fits_and_is_accessible(desktop, axe_source, "66-privacy-report-list")
    desktop.goto(f"{base}/admin/incidents/privacyreport/{report.pk}/change/")
    _fits_and_is_accessible(desktop, axe_source, "67-privacy-report-triage")
    with desktop.expect_navigation():
        desktop.click("#move-in_progress")
    desktop.fill("#id_answer", "We have spoken to the rider concerned.")
    with desktop.expect_navigation():
        desktop.click("#answer-form button[type=submit]")
    _fits_and_is_accessible(desktop, axe_source, "68-privacy-report-answered")
    with desktop.expect_navigation():
        desktop.click("#reveal-form button[type=submit]")
    revealed = desktop.inner_text("#revealed-description").strip()
    _fits_and_is_accessible(desktop, axe_source, "69-privacy-report-revealed")
    with tenant_scope(order.tenant):
        report.refresh_from_db()
    assert (report.status, report.answer, revealed) == (
        "answered",
        "We have spoken to the rider concerned.",
        "A stranger called me.",
    )


def test_a_customer_files_a_report_on_the_tenants_own_page_in_chinese(
    browser: Any, live_server: Any, axe_source: str, outbox: list
) -> None:
    """The tenant-branded page /privacy/report/for/<slug>/ at 360 px in Chinese: the
    tenant's name on each step, "start again" keeps it, the tracking code shown once; no
    English on the pages (the brand's own name aside); an unknown slug is a 404."""
    tenant = TenantFactory(slug="shanghai-eats", name="Shanghai Eats")
    order = OrderFactory(tenant=tenant)
    # The brand's own name, and the language switcher's "English" (each language by its name).
    names = ["Shanghai Eats", "English"]
    context = browser.new_context(
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
    )
    phone = context.new_page()
    base = live_server.url
    url = f"{base}/privacy/report/for/shanghai-eats/"
    phone.goto(url)
    _check_page(phone, axe_source, "70-privacy-report-branded-start-zh")
    brands = [phone.inner_text("#report-brand")]
    leaks = latin_text(phone, names)
    phone.fill("#order_code", order.code)
    phone.click("button[type=submit]")
    phone.wait_for_url(f"{base}/privacy/report/verify/")
    brands.append(phone.inner_text("#report-brand"))
    start_again = phone.get_attribute("a.link-button", "href")
    phone.fill("#code", _send_code(outbox))
    phone.select_option("#kind", "label")
    phone.fill("#description", "标签上显示了我的全名和楼号。")
    _check_page(phone, axe_source, "71-privacy-report-branded-problem-zh")
    leaks += latin_text(phone, names)
    phone.click("button[type=submit]")
    phone.wait_for_url(f"{base}/privacy/report/done/")
    _check_page(phone, axe_source, "72-privacy-report-branded-tracking-zh")
    tracking = phone.inner_text("#tracking-code").strip()
    leaks += latin_text(phone, [*names, tracking])
    phone.reload()
    shown_again = phone.locator("#tracking-code").count()
    missing = phone.goto(f"{base}/privacy/report/for/no-such-shop/").status
    context.close()
    with tenant_scope(tenant):
        filed = PrivacyReport.objects.filter(order=order).count()
    assert (
        all("Shanghai Eats" in brand for brand in brands),
        start_again,
        bool(tracking),
        shown_again,
        filed,
        leaks,
        missing,
    ) == (True, "/privacy/report/for/shanghai-eats/", True, 0, 1, [], 404)
