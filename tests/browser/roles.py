"""Helpers for the role walks in real Chromium (tests/browser/test_roles.py): log in through
the back office's form (enrolling the second factor where the role needs one), save a
screenshot of each step into artifacts/browser/, ask axe-core for serious or critical
violations, and measure horizontal overflow."""

from __future__ import annotations

import base64
from typing import Any

from django.conf import settings
from django.test import Client
from django_otp.oath import totp

from tests.browser.conftest import ARTIFACTS
from tests.factories import PASSWORD, verified_second_factor

# Rules switched off for every page, each with the reason. Keep this list short: a rule
# belongs here only when the violation is not ours to fix and is not a real barrier.
AXE_DISABLED_RULES: dict[str, str] = {}

AXE_RUN = """async ([context, disabled]) => {
  const rules = Object.fromEntries(disabled.map((id) => [id, {enabled: false}]));
  const result = await axe.run(context === null ? document : context,
    {resultTypes: ['violations'], rules});
  return result.violations
    .filter((v) => ['serious', 'critical'].includes(v.impact))
    .map((v) => `${v.impact} ${v.id} (${v.help}): ` + v.nodes.slice(0, 4)
      .map((n) => n.target.join(' ') + ' ' + n.html.slice(0, 140)).join(' | '));
}"""

# Elements that stick out of the viewport on the right, or that scroll sideways inside
# (a table in a scrolling wrapper clips its last columns until one scrolls).
OVERFLOW = """() => {
  const width = window.innerWidth;
  const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
    + (typeof e.className === 'string' && e.className.trim()
       ? '.' + e.className.trim().split(/\\s+/).slice(0, 3).join('.') : '');
  const out = [];
  for (const e of document.querySelectorAll('body *')) {
    if (e.offsetParent === null && getComputedStyle(e).position !== 'fixed') continue;
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const style = getComputedStyle(e);
    const scrolls = ['auto', 'scroll'].includes(style.overflowX) && e.scrollWidth > e.clientWidth + 1;
    if (scrolls) out.push(`${name(e)} scrolls sideways by ${e.scrollWidth - e.clientWidth}px`);
    else if (r.right > width + 1 && !e.closest('[data-overflow-ok]')) {
      const parent = e.parentElement;
      if (!parent || parent.getBoundingClientRect().right <= width + 1)
        out.push(`${name(e)} ends at ${Math.round(r.right)}px`);
    }
  }
  return {page: document.scrollingElement.scrollWidth - width, elements: out.slice(0, 12)};
}"""


def with_session(page: Any, base: str, user: Any, language: str | None = "en") -> None:
    """Log ``user`` in without the form: a session made by Django's test client (second
    factor verified) handed to the browser, with the language cookie when ``language``."""
    client = Client()
    client.force_login(user)
    verified_second_factor(client, user)
    cookies = [
        {
            "name": settings.SESSION_COOKIE_NAME,
            "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
            "url": base,
        }
    ]
    if language:
        cookies.append({"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": base})
    page.context.add_cookies(cookies)


def shot(page: Any, name: str) -> str:
    """A full-page screenshot ``artifacts/browser/<name>.png``; returns its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return str(path)


def axe_violations(
    page: Any, axe_source: str, context: str | None = None, allowed: tuple[str, ...] = ()
) -> list[str]:
    """Serious and critical axe-core violations of the page (or of the element ``context``
    selects), one readable line each: impact, rule, help, and the first offending nodes."""
    # Evaluated through the DevTools protocol: a <script> tag would be refused by the CSP.
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate("() => {\n" + axe_source + "\n}")
    return list(page.evaluate(AXE_RUN, [context, [*AXE_DISABLED_RULES, *allowed]]))


def csp_violations(page: Any) -> list[str]:
    return list(page.evaluate("window.__cspViolations || []"))


def step(
    page: Any, axe_source: str, name: str, allowed: tuple[str, ...] = ()
) -> tuple[str, list[str], list[str]]:
    """One step of a walk: screenshot, then axe (after the screenshot: axe adds styles).
    Returns ``(name, axe violations, CSP violations)`` for one assert that names the step;
    ``allowed`` names axe rules this page may break, each justified where it is passed."""
    shot(page, name)
    csp = csp_violations(page)
    return (name, axe_violations(page, axe_source, allowed=allowed), csp)


def clean(name: str) -> tuple[str, list[str], list[str]]:
    return (name, [], [])


def overflow(page: Any) -> dict[str, Any]:
    """How far the page scrolls sideways (0 when it fits) and what sticks out."""
    return dict(page.evaluate(OVERFLOW))


def totp_code(key: bytes) -> str:
    return f"{totp(key):06d}"


def log_in(page: Any, base: str, username: str, shot_prefix: str = "") -> None:
    """The back office's login form; a role that needs a second factor enrols at its first
    login with the key the setup page shows (as a person would type it into an app), and
    continues past the recovery codes."""
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("#login-form [type=submit], form [type=submit]")
    if not page.url.startswith(f"{base}/account/two-factor/setup/"):
        return
    if shot_prefix:
        shot(page, f"{shot_prefix}-00-two-factor-setup")
    secret = page.locator("[data-testid=totp-secret]").inner_text().replace(" ", "")
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    page.fill("#id_code", totp_code(key))
    with page.expect_navigation():
        page.click("form.card button[type=submit]")
    assert page.url.startswith(f"{base}/account/two-factor/recovery-codes/"), page.url
    with page.expect_navigation():
        page.click("[data-testid=recovery-codes] ~ p a, a.button")


# Visible text with a Latin word of three letters or more, on a page that should be in
# Chinese: icon ligatures, <code>, order codes, the factories' user-N and the given names
# (usernames, seals) aside.
LATIN_TEXT = """(ignored) => {
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || el.closest('.material-symbols-outlined, code, kbd, script, style, template')) continue;
    if (el.tagName !== 'OPTION' && el.offsetParent === null
        && getComputedStyle(el).position !== 'fixed') continue;
    let text = node.textContent.replace(/\\s+/g, ' ').trim();
    for (const name of ignored) text = text.split(name).join('');
    text = text.replace(/\\b[A-Z0-9]{5}-[A-Z0-9]{5}\\b/g, '').replace(/\\buser-\\d+\\b/g, '');
    if (/[A-Za-z]{3,}/.test(text)) seen.add(node.textContent.replace(/\\s+/g, ' ').trim());
  }
  return [...seen];
}"""


def latin_text(page: Any, ignored: list[str]) -> list[str]:
    """Text on the page that looks untranslated (for people to read; see LATIN_TEXT)."""
    return list(page.evaluate(LATIN_TEXT, ignored))
