"""Issue 18's pages walked in real Chromium at 1280 and 1024 px by someone who holds every
back-office role the pages need: the case page with all its panels (reports due, state,
containment: suspend a rider and rotate the tenant key, regrade, investigation with an
evidence upload and its download, affected customers with a remedy, the notice), the
printable regulator document, an anomaly's page (assignment and follow-up), the inbox and
the tenant settings' notification channel. Every page fits the width, axe-core finds no
serious or critical violations, the console and the CSP are clean; another tenant's ids in
the same URLs are 404. Screenshots in artifacts/browser/incident-walk-*.png."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.cases import open_case
from incidents.models import EvidenceFile, IncidentCase, PrivacyReport
from incidents.services import report_anomaly
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.browser.roles import overflow, step, with_session
from tests.factories import OrderFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

EVIDENCE = b"Route 3 dispatch log export, 14:00-15:00\n" * 10
ROLES = [Role.TENANT_ADMIN, Role.PRIVACY_OFFICER, Role.SUPERVISOR, Role.CUSTOMER_SERVICE]


def _case(tenant: Any, actor: Any, title: str) -> IncidentCase:
    return open_case(
        tenant=tenant,
        title=title,
        severity="major",
        severity_reason="Photos of labels on the phone",
        kind="lost_device",
        data_categories=["name", "address"],
        affected_customers=3,
        discovered_at=timezone.now() - timedelta(hours=1),
        discovered_by="Dispatcher on duty",
        is_drill=False,
        actor=actor,
    )


def _watch(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def _post(page: Any, selector: str) -> None:
    with page.expect_navigation():
        page.click(selector)


def test_every_incident_panel_fits_and_is_accessible(
    desktop: Any, live_server: Any, axe_source: str, tmp_path: Path
) -> None:
    base = live_server.url
    tenant = TenantFactory(name="Shanghai Eats")
    boss = UserFactory(tenant=tenant, roles=ROLES, username="boss-li")
    UserFactory(tenant=tenant, roles=[Role.RIDER], username="rider-chen")
    orders = [OrderFactory(tenant=tenant)]
    case = _case(tenant, boss, "Rider's phone lost on route 3")
    anomaly = report_anomaly(order=orders[0], kind="wrong_address", actor=boss)
    other = TenantFactory(name="Beijing Bites")
    stranger = UserFactory(tenant=other, roles=ROLES)
    other_case = _case(other, stranger, "Another tenant's case")
    other_anomaly = report_anomaly(order=OrderFactory(tenant=other), kind="lost", actor=stranger)
    other_order = OrderFactory(tenant=other)
    with tenant_scope(other):
        other_report = PrivacyReport.objects.create(
            tenant=other,
            order=other_order,
            subject_id=other_order.subject_id,
            kind="label",
            tracking_hash="0" * 64,
            due_at=timezone.now() + timedelta(days=15),
        )
    upload = tmp_path / "dispatch-log.txt"
    upload.write_bytes(EVIDENCE)
    errors = _watch(desktop)
    with_session(desktop, base, boss)
    case_url = base + reverse("admin:incidents_incidentcase_change", args=[case.pk])
    desktop.goto(case_url)
    checks = [step(desktop, axe_source, "incident-walk-01-case-1280")]
    widths = {"case-1280": overflow(desktop)}

    desktop.select_option("#containment-form select[name=action]", "suspend_dispatch")
    desktop.select_option("#containment-form select[name=target]", label="rider-chen")
    desktop.fill("#containment-form input[name=reason]", "Phone lost with the rider app open")
    _post(desktop, "#containment-form button[type=submit]")
    suspensions = desktop.locator("#case-suspensions").inner_text()

    desktop.select_option("#regrade-severity", "serious")
    desktop.fill("#regrade-severity_reason", "Labels of three customers were photographed")
    _post(desktop, "#regrade-form button[type=submit]")
    regraded = desktop.locator("#main").inner_text()

    desktop.fill("#rotation-reason", "The phone held a session of the tenant admin")
    _post(desktop, "#rotation-form button[type=submit]")
    rotation = desktop.locator("#case-rotation").inner_text()

    desktop.set_input_files("#evidence-form input[type=file]", str(upload))
    _post(desktop, "#evidence-form button[type=submit]")
    with desktop.expect_download() as download:
        desktop.click("#evidence-files a")
    downloaded = Path(download.value.path()).read_bytes()

    desktop.fill("#affected-codes", orders[0].code)
    _post(desktop, "#affected-form button[type=submit]")
    form = "#affected-table .baomi-remedy-form"
    desktop.locator(f"{form} select[name=remedy_kind]").first.select_option("voucher")
    desktop.locator(f"{form} input[name=remedy_amount]").first.fill("20")
    desktop.locator(f"{form} select[name=remedy_status]").first.select_option("offered")
    _post(desktop, f"{form} button[type=submit]")
    remedy = desktop.locator("#main").inner_text()
    desktop.reload()
    checks.append(step(desktop, axe_source, "incident-walk-02-case-acted-1280"))
    widths["case-acted-1280"] = overflow(desktop)
    desktop.set_viewport_size({"width": 1024, "height": 800})
    desktop.reload()
    checks.append(step(desktop, axe_source, "incident-walk-03-case-1024"))
    widths["case-1024"] = overflow(desktop)

    desktop.set_viewport_size({"width": 1280, "height": 900})
    desktop.click("#regulator-document-link")
    desktop.wait_for_load_state()
    checks.append(step(desktop, axe_source, "incident-walk-04-regulator-document"))
    document = desktop.locator("body").inner_text()

    anomaly_url = base + reverse("admin:incidents_orderanomaly_change", args=[anomaly.pk])
    pages = {
        "05-anomaly": anomaly_url,
        "06-inbox": base + reverse("admin:tenants_notification_changelist"),
        "07-tenant-settings": base + reverse("admin:tenants_tenant_settings"),
        "08-case-list": base + reverse("admin:incidents_incidentcase_changelist"),
    }
    for name, url in pages.items():
        for width in (1280, 1024):
            desktop.set_viewport_size({"width": width, "height": 900})
            desktop.goto(url)
            checks.append(step(desktop, axe_source, f"incident-walk-{name}-{width}"))
            widths[f"{name}-{width}"] = overflow(desktop)
    desktop.set_viewport_size({"width": 1280, "height": 900})
    desktop.goto(anomaly_url)
    _post(desktop, "#assign-form button[name=me]")
    checks.append(step(desktop, axe_source, "incident-walk-09-anomaly-assigned"))
    assigned = desktop.locator("#main").inner_text()

    with tenant_scope(other):
        other_evidence = EvidenceFile.objects.filter(case=other_case).first()
    foreign = [
        reverse("admin:incidents_incidentcase_change", args=[other_case.pk]),
        reverse("admin:incidents_incidentcase_regulator_document", args=[other_case.pk]),
        reverse("admin:incidents_incidentcase_evidence_download", args=[other_case.pk, 1]),
        reverse("admin:incidents_orderanomaly_change", args=[other_anomaly.pk]),
        reverse("admin:incidents_privacyreport_change", args=[other_report.pk]),
    ]
    console = list(errors)  # before the 404s below, which the console reports as such
    statuses = {url: desktop.goto(base + url).status for url in foreign}
    fits = {name: w for name, w in widths.items() if w["page"] > 0 or w["elements"]}
    assert (
        [c for c in checks if c[1] or c[2]],
        fits,
        console,
        "rider-chen" in suspensions,
        "Serious" in regraded,
        "key version" in rotation,
        downloaded == EVIDENCE,
        "The remedy is saved." in remedy,
        orders[0].code in document,
        "boss-li" in assigned,
        set(statuses.values()),
        other_evidence,
    ) == ([], {}, [], True, True, True, True, True, False, True, {404}, None)
