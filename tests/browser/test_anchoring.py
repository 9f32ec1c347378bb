"""A supervisor reads the audit chain's verification runs and its anchors (issue 20, point 5)
in real Chromium at 1280 px, in English and in Chinese, and downloads the anchors: the
pages fit the width, axe-core finds no serious or critical violation, the CSP is clean.
Screenshots in artifacts/browser/anchoring-*.png."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from audits.anchoring import anchor_chain_head
from audits.integrity import verify_and_record
from audits.services import record_event
from tenants.actors import SystemActor
from tenants.models import Role
from tests.browser.roles import overflow, step, with_session
from tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

SYSTEM = SystemActor("tests")


def _seed() -> Any:
    tenant = TenantFactory(name="Shanghai Eats")
    supervisor = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR], username="sup-zhou")
    for n in range(5):
        record_event(tenant=tenant, actor=SYSTEM, action="test.event", details={"n": n})
    night = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
    anchor_chain_head(tenant=tenant, now=night + dt.timedelta(hours=22))
    record_event(tenant=tenant, actor=SYSTEM, action="test.event", details={"n": 5})
    anchor_chain_head(tenant=tenant, now=night + dt.timedelta(hours=23))
    verify_and_record(tenant=tenant, period=night)
    return supervisor


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_supervisor_reads_the_verification_runs_and_downloads_the_anchors(
    desktop: Any, live_server: Any, axe_source: str, language: str
) -> None:
    supervisor = _seed()
    base = live_server.url
    with_session(desktop, base, supervisor, language=language)
    desktop.goto(f"{base}/admin/audits/chainverification/")
    checks = [step(desktop, axe_source, f"anchoring-{language}-runs-1280")]
    widths = {"runs": overflow(desktop)["page"]}
    desktop.goto(f"{base}/admin/audits/chainanchor/")
    checks.append(step(desktop, axe_source, f"anchoring-{language}-anchors-1280"))
    widths["anchors"] = overflow(desktop)["page"]
    with desktop.expect_download() as download:
        desktop.click("#anchor-download")
    lines = open(download.value.path()).read().splitlines()  # noqa: PTH123, SIM115
    assert (checks, widths, [json.loads(line)["sequence"] for line in lines]) == (
        [
            (f"anchoring-{language}-runs-1280", [], []),
            (f"anchoring-{language}-anchors-1280", [], []),
        ],
        {"runs": 0, "anchors": 0},
        [5, 6],
    )
