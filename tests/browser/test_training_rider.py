"""A rider takes the rider course in real Chromium at 360 px: lessons, the quiz failed once
(the answers are nowhere in the page), then passed, and the certificate; before, the rider's
home says why no orders come and a dispatcher's assignment is refused (409, training.gates);
after, the note is gone and the assignment goes through. Screenshots go to
artifacts/browser/training-*.png; axe-core checks each page; no request leaves the site."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import Conflict
from riders.dispatch import assign_rider
from tenants.models import Role
from tests.browser.conftest import ARTIFACTS
from tests.factories import PASSWORD, TenantFactory, UserFactory
from tests.riders.conftest import make_rider, packed_order
from tests.training.conftest import SYSTEM
from training.starter import RIDERS, seed_training

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

CORRECT = {
    o_id: ok
    for q in RIDERS["questions"]
    for o_id, ok in ((o["id"], o["correct"]) for o in q["options"])
}


def _check(page: Any, axe_source: str, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"training-{name}.png"), full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    small = page.evaluate("""() => [...document.querySelectorAll('a, button, summary')]
        .filter(e => e.offsetParent !== null)
        .filter(e => { const r = e.getBoundingClientRect(); return r.height < 44 || r.width < 44; })
        .map(e => e.outerHTML.slice(0, 60))""")
    page.evaluate("() => {\n" + axe_source + "\n}")
    violations = page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']}))
        .violations.filter(v => ['serious', 'critical'].includes(v.impact)).map(v => v.id)""")
    assert (name, overflow, small, violations) == (name, 0, [], [])


def _answer(page: Any, *, right: bool) -> None:
    for question in page.locator("fieldset[data-question]").all():
        inputs = question.locator("input").all()
        for box in inputs:
            value = box.get_attribute("value")
            if CORRECT[value] == right:
                box.check()
                if box.get_attribute("type") == "radio":
                    break


def test_a_rider_fails_the_quiz_once_then_passes(
    phone: Any, live_server: Any, axe_source: str
) -> None:
    tenant = TenantFactory()
    seed_training(tenant, SYSTEM)
    rider = make_rider(tenant, username="training-rider")
    order = packed_order(tenant)
    dispatcher = UserFactory(tenant=tenant, roles=[Role.DISPATCHER])
    base = live_server.url
    with pytest.raises(Conflict) as refused:
        assign_rider(order=order, rider=rider, actor=dispatcher)
    assert "no pass of the course" in refused.value.message or "课程" in refused.value.message

    phone.goto(f"{base}/rider/login/")
    phone.fill("#id_username", rider.user.username)
    phone.fill("#id_password", PASSWORD)
    phone.click("button[type=submit]")
    assert "You get no new orders" in phone.locator("#training-gate").inner_text()
    _check(phone, axe_source, "00-rider-home-gated")
    phone.click("#training-link a")
    assert phone.url == f"{base}/training/"
    _check(phone, axe_source, "01-home")
    assert (
        phone.locator(f"[data-course='{RIDERS['code']}'] [data-state]").get_attribute("data-state")
        == "missing"
    )

    phone.click(f"[data-course='{RIDERS['code']}'] a")
    _check(phone, axe_source, "02-course")
    phone.click("ol a >> nth=0")
    _check(phone, axe_source, "03-lesson")
    for _ in RIDERS["lessons"]:
        phone.click("#lesson-form button")
    assert phone.url == f"{base}/training/courses/{RIDERS['code']}/"

    phone.click("#quiz button")
    _check(phone, axe_source, "04-quiz")
    html = phone.content()
    assert "correct" not in html.lower()
    _answer(phone, right=False)
    phone.click("#quiz-form button[type=submit]")
    assert phone.locator("#result").get_attribute("data-passed") == "no"
    _check(phone, axe_source, "05-failed")

    phone.click("#result button")
    _answer(phone, right=True)
    phone.click("#quiz-form button[type=submit]")
    assert phone.locator("#result").get_attribute("data-passed") == "yes"
    _check(phone, axe_source, "06-passed")

    phone.click("#result a")
    assert "training-rider" in phone.locator("#certificate").inner_text()
    _check(phone, axe_source, "07-certificate")

    phone.goto(f"{base}/training/")
    assert (
        phone.locator(f"[data-course='{RIDERS['code']}'] [data-state]").get_attribute("data-state")
        == "current"
    )
    phone.goto(f"{base}/rider/")
    assert phone.locator("#training-gate").count() == 0
    assert assign_rider(order=order, rider=rider, actor=dispatcher).rider_id == rider.pk
    phone.reload()
    assert phone.locator(f"[data-order='{order.code}']").is_visible()
    _check(phone, axe_source, "08-rider-home-dispatched")
    assert all(url.startswith(base) for url in phone.requests_made)
