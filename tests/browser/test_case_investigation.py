"""A privacy officer investigates a leak case in real Chromium at 1280 px: records a
finding, uploads an evidence file (stored encrypted, listed with its SHA-256) and sees
both on the case's "Investigation" panel; each step screenshot into artifacts/browser/,
axe-core and the CSP clean."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from incidents.cases import open_case
from incidents.models import EvidenceFile
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.browser.roles import clean, step, with_session
from tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

EVIDENCE = b"Route 3 dispatch log export, 14:00-15:00\n" * 20


def test_a_privacy_officer_records_a_finding_and_uploads_evidence(
    desktop: Any, live_server: Any, axe_source: str, tmp_path: Path
) -> None:
    tenant = TenantFactory(name="Shanghai Eats")
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER], username="po-wang")
    case = open_case(
        tenant=tenant,
        title="Rider's phone lost on route 3",
        severity="major",
        severity_reason="Photos of labels on the phone",
        kind="lost_device",
        data_categories=["address"],
        affected_customers=12,
        discovered_at=timezone.now() - timedelta(hours=1),
        discovered_by="Dispatcher on duty",
        is_drill=True,
        actor=officer,
    )
    upload = tmp_path / "dispatch-log.txt"
    upload.write_bytes(EVIDENCE)
    with_session(desktop, live_server.url, officer)
    desktop.goto(live_server.url + reverse("admin:incidents_incidentcase_change", args=[case.pk]))
    checks = [step(desktop, axe_source, "case-investigation-1-empty")]

    desktop.fill(
        "#investigation-finding-form textarea[name=text]", "Photos synced to a cloud album"
    )
    with desktop.expect_navigation():
        desktop.click("#investigation-finding-form button[type=submit]")
    checks.append(step(desktop, axe_source, "case-investigation-2-finding"))

    desktop.set_input_files("#evidence-form input[type=file]", str(upload))
    with desktop.expect_navigation():
        desktop.click("#evidence-form button[type=submit]")
    checks.append(step(desktop, axe_source, "case-investigation-3-evidence"))
    panel = desktop.locator("#investigation").inner_text()
    with tenant_scope(tenant):
        evidence = EvidenceFile.objects.get(case=case)
    sealed = Path(settings.EVIDENCE_DIR) / str(tenant.pk) / f"{evidence.file_id.hex}.sealed"
    assert (
        checks,
        "Photos synced to a cloud album" in panel,
        # The uploaded name is not kept: the file is shown by its generated name.
        evidence.name == f"evidence-{case.code}-1.txt" and evidence.name in panel,
        "dispatch-log" in panel,
        evidence.sha256 in panel,
        evidence.sha256 == hashlib.sha256(EVIDENCE).hexdigest(),
        b"dispatch log" in sealed.read_bytes(),
    ) == (
        [
            clean("case-investigation-1-empty"),
            clean("case-investigation-2-finding"),
            clean("case-investigation-3-evidence"),
        ],
        True,
        True,
        False,
        True,
        True,
        False,
    )
