"""A supervisor prepares an evidence pack (issue 20, point 6) in real Chromium at 1280 px,
in English and in Chinese (and fits 1024 px): requests it, watches the list refresh itself (no script) while
a real worker builds it, and downloads the archive, whose signature and files verify.
axe-core finds no serious or critical violation and the CSP is clean. Screenshots in
artifacts/browser/evidence-pack-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from audits.evidence_keys import public_key
from audits.evidence_verify import verify_pack
from tenants.models import Role
from tests.audits.evidence_helpers import seed_revealed_orders, seeded_values
from tests.browser.roles import overflow, step, with_session
from tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

TASK = "audits.evidence_tasks.build_evidence_pack"


@pytest.fixture
def packs_in_tmp(settings: Any, tmp_path: Path) -> Path:
    settings.EVIDENCE_PACK_DIR = tmp_path / "evidence-packs"
    return settings.EVIDENCE_PACK_DIR


@pytest.fixture
def to_worker(worker: str) -> Iterator[str]:
    """The pack's task goes to the test's real worker (its private queue)."""
    from config.celery import app

    def route(routes: Any) -> None:
        app.conf.task_routes = routes
        app.amqp.flush_routes()  # the router is built once and cached: build it again
        app.amqp.__dict__.pop("router", None)

    before = app.conf.task_routes
    route({TASK: {"queue": worker}})
    yield worker
    route(before)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_supervisor_requests_a_pack_sees_it_finish_and_downloads_it(
    desktop: Any,
    live_server: Any,
    axe_source: str,
    language: str,
    to_worker: str,
    packs_in_tmp: Path,
    tmp_path: Path,
) -> None:
    tenant = TenantFactory(name="Shanghai Eats 上海美食")
    seed_revealed_orders(tenant)
    supervisor = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR], username="sup-zhou")
    base = live_server.url
    with_session(desktop, base, supervisor, language=language)
    desktop.goto(f"{base}/admin/audits/evidencepack/")
    checks = [step(desktop, axe_source, f"evidence-pack-{language}-form-1280")]
    widths = {"form": overflow(desktop)}
    desktop.fill("#id_start", "2026-01-01")
    desktop.fill("#id_end", "2026-11-30")
    desktop.click("#evidence-request button[type=submit]")
    desktop.wait_for_load_state()
    desktop.wait_for_selector("#evidence-list tr[data-state=done]", timeout=60_000)
    checks.append(step(desktop, axe_source, f"evidence-pack-{language}-done-1280"))
    widths["done"] = overflow(desktop)
    html = desktop.content()
    desktop.set_viewport_size({"width": 1024, "height": 800})
    desktop.reload()
    widths["done-1024"] = overflow(desktop)
    with desktop.expect_download() as download_info:
        desktop.click("#evidence-list tr[data-state=done] a.baomi-evidence-download")
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    result = verify_pack(saved, public_key())
    assert (
        checks,
        widths,
        desktop.locator("#evidence-list tbody tr").count(),
        saved.suffix,
        result.problems,
        [value in html for value in seeded_values()],
        f'lang="{language}"' in html,
    ) == (
        [
            (f"evidence-pack-{language}-form-1280", [], []),
            (f"evidence-pack-{language}-done-1280", [], []),
        ],
        {
            "form": {"page": 0, "elements": []},
            "done": {"page": 0, "elements": []},
            "done-1024": {"page": 0, "elements": []},
        },
        1,
        ".zip",
        [],
        [False] * len(seeded_values()),
        True,
    )
