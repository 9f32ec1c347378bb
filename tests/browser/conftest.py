"""Real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright, at a phone
viewport (``phone``) or the back office's (``desktop``), against pytest-django's live
server. Skipped where Chromium or axe-core is not installed, unless REQUIRE_SERVICES=1 (CI),
where that is a failure."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
# Screenshots and notes for people to read; BAOMI_BROWSER_ARTIFACTS moves them elsewhere
# (CI runs the suite on SQLite and on PostgreSQL at once, each into its own folder).
ARTIFACTS = Path(
    os.environ.get("BAOMI_BROWSER_ARTIFACTS")
    or Path(__file__).resolve().parents[2] / "artifacts" / "browser"
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Reported by the page itself, whatever the console says (init scripts are exempt from CSP);
# with the start of the offending element, so that a refused style="" attribute can be found.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = e.target && e.target.outerHTML ? e.target.outerHTML.slice(0, 120) : "";
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${where}`.trim());
});
"""


# Every browser test is marked ``browser``; these also ``browser_smoke``: logging in to the
# back office and on the rider's phone, and one page of every role (the daily pages of the
# six back-office roles in one walk, the rider's pages, the privacy officer's case). CI runs
# the whole browser suite on PostgreSQL and only this walk on SQLite
# (``-m "not browser or browser_smoke"``, .ci/run); every other test runs on both.
BROWSER_SMOKE = {
    "test_csp.py::test_back_office_login_order_and_api_docs_run_under_the_csp",
    "test_csp.py::test_rider_pages_at_360_px_run_under_the_csp",
    "test_roles.py::test_the_daily_pages_in_chinese",
    "test_incident_case.py::test_a_privacy_officer_contains_a_drill_case",
}


@pytest.hookimpl(tryfirst=True)  # before -m deselects by these marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here, found = Path(__file__).parent, set()
    for item in items:
        if item.path.parent != here:
            continue
        item.add_marker(pytest.mark.browser)
        name = f"{item.path.name}::{item.name}"
        if name in BROWSER_SMOKE:
            item.add_marker(pytest.mark.browser_smoke)
            found.add(name)
    # A renamed test must not shrink the smoke walk in silence.
    if "browser_smoke" in (config.option.markexpr or "") and found != BROWSER_SMOKE:
        raise pytest.UsageError(f"BROWSER_SMOKE names no test: {sorted(BROWSER_SMOKE - found)}")


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return "Chromium is not installed at /usr/bin/chromium (apt-get install chromium)"
    if not AXE.exists():
        return "axe-core is not installed (npm ci --prefix tests/browser)"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    problem = _missing()
    if problem:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(f"{problem}, and REQUIRE_SERVICES=1 forbids skipping.")
        pytest.skip(problem)
    # Playwright's sync API keeps an event loop in this thread; the test's ORM calls are
    # synchronous and safe here.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def phone(browser: Any, live_server: Any) -> Iterator[Any]:
    """A page at 360×740 that records every request it makes."""
    context = browser.new_context(
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="en-US",
    )
    page = context.new_page()
    page.requests_made = []
    page.on("request", lambda request: page.requests_made.append(request.url))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield page
    context.close()


def desk_page(browser: Any, locale: str = "en-US") -> Any:
    """A new page at the back office's 1280×900 in ``locale`` that records every request it
    makes and every CSP violation the page reports (``window.__cspViolations``)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
    page = context.new_page()
    page.add_init_script(RECORD_CSP_VIOLATIONS)
    page.requests_made = []
    page.on("request", lambda request: page.requests_made.append(request.url))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return page


@pytest.fixture
def desktop(browser: Any, live_server: Any) -> Iterator[Any]:
    """The back office's page at 1280×900, in English (see ``desk_page``)."""
    page = desk_page(browser)
    yield page
    page.context.close()


@pytest.fixture
def desktop_zh(browser: Any, live_server: Any) -> Iterator[Any]:
    """The back office's page at 1280×900, in Chinese (see ``desk_page``)."""
    page = desk_page(browser, "zh-CN")
    yield page
    page.context.close()


@pytest.fixture
def axe_source() -> str:
    return AXE.read_text()
