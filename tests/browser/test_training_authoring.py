"""A tenant administrator publishes a new version of the staff course in real Chromium at
1280 px — adds a lesson with an uploaded picture and a question, previews, publishes — and
a packer then sees the picture in the new lesson; a rider sees the starter course's picture
at 360 px without overflow. axe-core on every page, the CSP kept, no request leaves the site.
Screenshots in artifacts/browser/training-authoring-*.png."""

from __future__ import annotations

from typing import Any

import pytest

from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.browser.conftest import ARTIFACTS, desk_page
from tests.browser.roles import with_session
from tests.factories import TenantFactory, UserFactory
from tests.riders.conftest import make_rider
from tests.training.conftest import SYSTEM
from tests.training.images import picture
from training.courses import current_course_version
from training.models import Course
from training.starter import ALL_STAFF, RIDERS, seed_training

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def _check(page: Any, axe_source: str, name: str) -> list[Any]:
    page.screenshot(path=str(ARTIFACTS / f"training-authoring-{name}.png"), full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    csp = page.evaluate("window.__cspViolations || []")
    broken = page.evaluate(
        "[...document.images].filter(i => i.complete && i.naturalWidth === 0).map(i => i.src)"
    )
    page.evaluate("() => {\n" + axe_source + "\n}")
    violations = page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']}))
        .violations.filter(v => ['serious', 'critical'].includes(v.impact))
        .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.html.slice(0, 120)).join(' | '))""")
    return [name, overflow, violations, csp, broken]


def _ok(name: str) -> list[Any]:
    return [name, 0, [], [], []]


def test_a_tenant_admin_adds_a_lesson_with_an_image_and_a_question_and_publishes(
    browser: Any, live_server: Any, axe_source: str
) -> None:
    tenant = TenantFactory()
    seed_training(tenant, SYSTEM)
    with tenant_scope(tenant):
        course = Course.objects.get(code=ALL_STAFF["code"])
    base = live_server.url
    desk = desk_page(browser)
    with_session(desk, base, UserFactory(tenant=tenant, roles=[Role.TENANT_ADMIN]))
    checks = []

    desk.goto(f"{base}/admin/training/course/{course.pk}/change/")
    checks.append(_check(desk, axe_source, "course"))
    desk.get_by_role("link", name="Publish a new version").click()
    desk.wait_for_selector("#version-form")
    checks.append(_check(desk, axe_source, "form"))

    lessons = len(ALL_STAFF["lessons"])
    desk.click("button[value=add_lesson]")
    desk.wait_for_selector(f"#lesson-{lessons}")
    new = f"l-{lessons}"
    desk.fill(f"input[name={new}-title_zh]", "封条")
    desk.fill(f"input[name={new}-title_en]", "The seal")
    desk.fill(f"textarea[name={new}-body_zh]", "取餐时检查封条是否完好。")
    desk.fill(f"textarea[name={new}-body_en]", "At pickup, check that the seal is intact.")
    desk.locator(f"#lesson-{lessons} summary").click()
    desk.set_input_files(
        f"input[name={new}-upload-image]",
        {"name": "seal.png", "mimeType": "image/png", "buffer": picture(size=(320, 160))},
    )
    desk.fill(f"input[name={new}-upload-alt_zh]", "一个完好的封条")
    desk.fill(f"input[name={new}-upload-alt_en]", "An intact seal")
    questions = len(ALL_STAFF["questions"])
    desk.click("button[value=add_question]")  # also uploads the picture into the lesson
    desk.wait_for_selector(f"#question-{questions}")
    q = f"q-{questions}"
    desk.fill(f"textarea[name={q}-text_zh]", "封条破损怎么办？")
    desk.fill(f"textarea[name={q}-text_en]", "What do you do with a broken seal?")
    desk.fill(f"input[name={q}-o-0-text_zh]", "不配送，立即报告")
    desk.fill(f"input[name={q}-o-0-text_en]", "Do not deliver it; report it")
    desk.check(f"input[name={q}-o-0-correct]")
    desk.fill(f"input[name={q}-o-1-text_zh]", "照常配送")
    desk.fill(f"input[name={q}-o-1-text_en]", "Deliver it anyway")
    uploaded_checked = desk.locator(f"#lesson-{lessons} .baomi-image-choice input:checked").count()
    desk.locator("button[value=preview]").first.click()
    desk.wait_for_selector("#preview")
    preview = desk.locator("#preview").inner_text()
    checks.append(_check(desk, axe_source, "preview"))
    desk.locator("button[value=publish]").first.click()
    desk.wait_for_url(f"{base}/admin/training/course/{course.pk}/change/")
    published = desk.locator("#main").inner_text()
    checks.append(_check(desk, axe_source, "published"))
    desk.reload()  # post/redirect/get: a reload publishes nothing
    version = current_course_version(course)
    outside = [u for u in desk.requests_made if not u.startswith(base)]
    desk.context.close()

    learner = desk_page(browser)
    with_session(learner, base, UserFactory(tenant=tenant, roles=[Role.PACKER]))
    learner.goto(f"{base}/training/courses/{ALL_STAFF['code']}/lessons/{lessons}/")
    image = learner.locator("figure.lesson-image img")
    image_alt = image.get_attribute("alt")
    checks.append(_check(learner, axe_source, "learner-lesson"))
    learner.context.close()

    assert version is not None
    assert (
        checks,
        uploaded_checked,
        "What do you do with a broken seal?" in preview,
        "An intact seal" in preview,
        "Version 2 of confidentiality-basics is published." in published,
        version.version,
        image_alt,
        outside,
    ) == (
        [_ok(n) for n in ("course", "form", "preview", "published", "learner-lesson")],
        1,
        True,
        True,
        True,
        2,
        "An intact seal",
        [],
    )


def test_a_rider_sees_the_starter_picture_at_360_px(
    phone: Any, live_server: Any, axe_source: str
) -> None:
    tenant = TenantFactory()
    seed_training(tenant, SYSTEM)
    rider = make_rider(tenant, username="picture-rider")
    with_session(phone, live_server.url, rider.user)
    phone.goto(f"{live_server.url}/training/courses/{RIDERS['code']}/lessons/0/")
    width = phone.evaluate("document.querySelector('figure.lesson-image img').clientWidth")
    check = _check(phone, axe_source, "rider-lesson-360")
    assert (check, 0 < width <= 360) == (_ok("rider-lesson-360"), True)


def test_the_version_form_in_chinese_fits_and_is_accessible(
    desktop_zh: Any, live_server: Any, axe_source: str
) -> None:
    tenant = TenantFactory()
    seed_training(tenant, SYSTEM)
    with tenant_scope(tenant):
        course = Course.objects.get(code=ALL_STAFF["code"])
    with_session(
        desktop_zh,
        live_server.url,
        UserFactory(tenant=tenant, roles=[Role.TENANT_ADMIN]),
        language="zh-hans",
    )
    desktop_zh.goto(f"{live_server.url}/admin/training/course/{course.pk}/publish/")
    lang = desktop_zh.get_attribute("html", "lang")
    assert (_check(desktop_zh, axe_source, "form-zh"), lang) == (_ok("form-zh"), "zh-hans")
