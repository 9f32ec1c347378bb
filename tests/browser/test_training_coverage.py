"""A supervisor opens the training coverage (issue 19, point 7) in real Chromium at 1280 and
1024 px, in English and in Chinese: the page fits the width, axe-core finds no serious or
critical violation, the CSP is clean, a count leads to its filtered list, and no
customer's data is on the page. Screenshots in artifacts/browser/training-coverage-*.png."""

from __future__ import annotations

from typing import Any

import pytest

from tenants.models import Role
from tests.browser.roles import overflow, step, with_session
from tests.factories import OrderFactory, TenantFactory, UserFactory
from tests.training.conftest import SYSTEM
from training import courses
from training.models import Course
from training.starter import ALL_STAFF, RIDERS, seed_training

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

CUSTOMER_VALUES = ("欧阳娜娜", "13912345678", "张江路", "宫保鸡丁")


def _take(user: Any, tenant: Any, code: str, *, right: bool) -> None:
    from tenants.scoping import tenant_scope

    with tenant_scope(tenant):
        course = Course.objects.get(code=code)
    version = courses.current_course_version(course)
    assert version is not None
    answers = {
        qid: [o["id"] for o in q["options"] if o["correct"]]
        if right
        else [next(o["id"] for o in q["options"] if not o["correct"])]
        for qid, q in version.questions().items()
    }
    attempt = courses.start_attempt(user=user, version=version)
    courses.submit_attempt(user=user, attempt_id=attempt.pk, answers=answers)


def _seed() -> Any:
    tenant = TenantFactory(name="Shanghai Eats")
    seed_training(tenant, SYSTEM)
    supervisor = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR], username="sup-zhou")
    for n in range(4):
        rider = UserFactory(tenant=tenant, roles=[Role.RIDER], username=f"rider-{n}")
        if n < 3:
            _take(rider, tenant, RIDERS["code"], right=n != 1)
    for n, role in enumerate([Role.KITCHEN, Role.PACKER, Role.CUSTOMER_SERVICE, Role.DISPATCHER]):
        person = UserFactory(tenant=tenant, roles=[role], username=f"{role.value}-{n}")
        if n % 2:
            _take(person, tenant, ALL_STAFF["code"], right=True)
    OrderFactory(tenant=tenant)
    return supervisor


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_supervisor_reads_the_coverage_at_1280_and_1024(
    desktop: Any, live_server: Any, axe_source: str, language: str
) -> None:
    supervisor = _seed()
    base = live_server.url
    with_session(desktop, base, supervisor, language=language)
    desktop.goto(f"{base}/training/coverage/")
    checks = [step(desktop, axe_source, f"training-coverage-{language}-1280")]
    widths = {"1280": overflow(desktop)}
    html = desktop.content()
    desktop.set_viewport_size({"width": 1024, "height": 800})
    desktop.reload()
    checks.append(step(desktop, axe_source, f"training-coverage-{language}-1024"))
    widths["1024"] = overflow(desktop)

    desktop.click("#coverage-roles tr[data-role=rider] td[data-state=failed] a")
    desktop.wait_for_load_state()
    listed = desktop.locator("#coverage-people tbody th").all_inner_texts()
    checks.append(step(desktop, axe_source, f"training-coverage-{language}-filtered-1024"))
    widths["filtered-1024"] = overflow(desktop)
    assert (
        checks,
        widths,
        listed,
        desktop.url.endswith("?role=rider&state=failed"),
        [value in html for value in CUSTOMER_VALUES],
        f'lang="{language}"' in html,
    ) == (
        [
            (f"training-coverage-{language}-1280", [], []),
            (f"training-coverage-{language}-1024", [], []),
            (f"training-coverage-{language}-filtered-1024", [], []),
        ],
        {
            "1280": {"page": 0, "elements": []},
            "1024": {"page": 0, "elements": []},
            "filtered-1024": {"page": 0, "elements": []},
        },
        ["rider-1"],
        True,
        [False] * len(CUSTOMER_VALUES),
        True,
    )


def test_a_privacy_officer_writes_a_case_study_from_a_closed_case(
    desktop: Any, live_server: Any, axe_source: str
) -> None:
    from datetime import timedelta

    from django.urls import reverse
    from django.utils import timezone

    from incidents.cases import move_case, open_case

    tenant = TenantFactory(name="Shanghai Eats")
    seed_training(tenant, SYSTEM)
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER], username="po-lin")
    case = open_case(
        tenant=tenant,
        title="Rider Zhang's phone lost",
        severity="major",
        severity_reason="Label photos on the phone",
        kind="lost_device",
        data_categories=["name", "address"],
        affected_customers=2,
        discovered_at=timezone.now() - timedelta(hours=3),
        discovered_by="Dispatcher on duty",
        is_drill=False,
        actor=officer,
    )
    for state in ("contained", "investigating", "remediated", "closed"):
        case = move_case(case=case, to=state, actor=officer)
    base = live_server.url
    with_session(desktop, base, officer)
    desktop.goto(base + reverse("admin:incidents_incidentcase_change", args=[case.pk]))
    desktop.click("#case-study-link a")
    desktop.wait_for_load_state()
    checks = [step(desktop, axe_source, "training-case-study-01-form-1280")]
    widths = {"form-1280": overflow(desktop)}
    prefilled = desktop.input_value("#id_body_en")
    desktop.select_option("#id_course", RIDERS["code"])
    desktop.fill("#id_title_en", "A lost phone with label photos")
    desktop.fill("#id_body_en", prefilled + "Do not photograph labels.")
    with desktop.expect_navigation():
        desktop.click("#case-study-form button[type=submit]")
    checks.append(step(desktop, axe_source, "training-case-study-02-list-1280"))
    listed = desktop.locator("#result_list").inner_text()
    assert (
        checks,
        widths,
        "Data affected: Name, Address." in prefilled,
        "Zhang" in prefilled,
        "A lost phone with label photos" in listed,
    ) == (
        [
            ("training-case-study-01-form-1280", [], []),
            ("training-case-study-02-list-1280", [], []),
        ],
        {"form-1280": {"page": 0, "elements": []}},
        True,
        False,
        True,
    )
