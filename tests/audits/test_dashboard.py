"""The supervisor dashboard (audits.dashboard, issue 20): who may open it, the period
picker (presets, a custom range, bad input as a named form error), the registered panels
in order — a later app's panel appearing without audits importing it, a broken panel shown
as a small box while the others render —, the audit event of every view, a bounded number
of queries, and no customer's personal data anywhere on the page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from audits.panels import SUPERVISORS, Period, register_panel, unregister_panel
from audits.periods import MAX_DAYS, Preset, period_of_days, preset_days
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tenants.timezones import zone_named
from tests.factories import OrderFactory, TenantFactory, UserFactory, verified_second_factor

pytestmark = pytest.mark.django_db(databases="__all__")

URL = "/supervisor/"


def _client(user: User, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    verified_second_factor(client, user)
    return client


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _events(tenant: Tenant) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(action="dashboard.viewed").order_by("sequence"))


@pytest.fixture
def tenant() -> Tenant:
    return TenantFactory()


@pytest.fixture
def supervisor(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])


# --- the page and who may open it ----------------------------------------------------------


def test_the_url_is_the_audits_dashboard() -> None:
    assert reverse("audits:dashboard") == URL


def test_dashboard_redirects_to_the_supervisor_page_keeping_the_query(supervisor: User) -> None:
    response = _client(supervisor).get("/dashboard/?period=7d")
    assert (response.status_code, response["Location"]) == (302, "/supervisor/?period=7d")


@pytest.mark.parametrize("role", list(Role))
def test_only_supervisors_privacy_officers_and_admins_open_the_page(
    tenant: Tenant, role: Role
) -> None:
    user = UserFactory(tenant=tenant, roles=[role])
    response = _client(user).get(URL)
    expected = 200 if role in SUPERVISORS else (302 if role == Role.RIDER else 404)
    assert response.status_code == expected


def test_a_rider_is_sent_to_the_login_page(tenant: Tenant) -> None:
    rider = UserFactory(tenant=tenant, roles=[Role.RIDER])
    response = _client(rider).get(URL)
    assert response["Location"].startswith("/admin/login/")


def test_an_anonymous_visitor_is_sent_to_the_login_page() -> None:
    response = Client().get(URL)
    assert (response.status_code, response["Location"].startswith("/admin/login/")) == (302, True)


def test_a_platform_operator_gets_a_404() -> None:
    from tests.factories import OperatorFactory

    operator = OperatorFactory()
    response = _client(operator).get(URL)
    assert response.status_code == 404


def test_a_supervisor_lands_on_the_dashboard_at_admin(supervisor: User) -> None:
    response = _client(supervisor).get("/admin/")
    assert (response.status_code, response["Location"]) == (302, URL)


def test_the_sidebar_links_the_dashboard_for_a_privacy_officer(tenant: Tenant) -> None:
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    page = _client(officer).get(URL).content.decode()
    assert f'href="{URL}"' in page


def test_the_page_renders_inside_the_back_office_frame(supervisor: User) -> None:
    page = _client(supervisor).get(URL).content.decode()
    assert ('id="supervisor-dashboard"' in page, "unfold/js/chart/chart.js" in page) == (True, True)


def test_the_page_reads_in_chinese(supervisor: User) -> None:
    page = _client(supervisor, "zh-hans").get(URL)
    assert page.status_code == 200 and 'lang="zh-hans"' in page.content.decode()


# --- the period picker ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "first", "last"),
    [
        ("today", date(2026, 3, 15), date(2026, 3, 15)),
        ("7d", date(2026, 3, 9), date(2026, 3, 15)),
        ("30d", date(2026, 2, 14), date(2026, 3, 15)),
        ("this_month", date(2026, 3, 1), date(2026, 3, 15)),
        ("last_month", date(2026, 2, 1), date(2026, 2, 28)),
    ],
)
def test_a_preset_gives_whole_local_days(preset: str, first: date, last: date) -> None:
    assert preset_days(preset, date(2026, 3, 15)) == (first, last)


def test_last_month_in_january_is_last_december() -> None:
    assert preset_days(Preset.LAST_MONTH, date(2026, 1, 10)) == (
        date(2025, 12, 1),
        date(2025, 12, 31),
    )


def test_a_period_runs_from_local_midnight_to_the_midnight_after_its_last_day() -> None:
    zone = zone_named("Asia/Shanghai")
    period = period_of_days(date(2026, 11, 1), date(2026, 11, 30), zone)
    assert (
        period.start.isoformat(),
        period.end.isoformat(),
        period.query(),
    ) == (
        "2026-11-01T00:00:00+08:00",
        "2026-12-01T00:00:00+08:00",
        "since=2026-11-01&until=2026-11-30",
    )


def test_the_default_period_is_the_last_30_days(supervisor: User) -> None:
    response = _client(supervisor).get(URL)
    today = timezone.localdate(timezone=zone_named("Asia/Shanghai"))
    assert (response.context["first"], response.context["last"]) == (
        today - timedelta(days=29),
        today,
    )


def test_a_custom_range_is_shown_and_survives_a_reload(supervisor: User, tenant: Tenant) -> None:
    client = _client(supervisor)
    params = {"period": "custom", "since": "2026-10-01", "until": "2026-10-31"}
    first, second = client.get(URL, params), client.get(URL, params)
    assert (
        [first.context["first"].isoformat(), second.context["last"].isoformat()],
        'value="2026-10-01"' in second.content.decode(),
    ) == (["2026-10-01", "2026-10-31"], True)


def test_a_lists_since_and_until_open_the_dashboard_on_the_same_days(supervisor: User) -> None:
    response = _client(supervisor).get(URL, {"since": "2026-11-01", "until": "2026-11-03"})
    assert (response.status_code, response.context["first"], response.context["last"]) == (
        200,
        date(2026, 11, 1),
        date(2026, 11, 3),
    )


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        (
            {"period": "custom", "since": "2026-13-01", "until": "2026-11-30"},
            "since",
            "Enter a valid date.",
        ),
        (
            {"period": "custom", "since": "yesterday", "until": "2026-11-30"},
            "since",
            "Enter a valid date.",
        ),
        (
            {"period": "custom", "since": "2026-11-30", "until": "2026-11-01"},
            "until",
            "The last day is before the first day.",
        ),
        (
            {"period": "custom", "since": "2024-01-01", "until": "2025-01-02"},
            "until",
            f"A range is at most {MAX_DAYS} days long.",
        ),
        (
            {"period": "custom", "since": "", "until": "2026-11-30"},
            "since",
            "Give the first day of the range.",
        ),
        ({"period": "custom", "since": "2026-11-01"}, "until", "Give the last day of the range."),
        (
            {"period": "custom", "since": "0001-01-01", "until": "2026-01-02"},
            "since",
            "Choose a day between 2000-01-01 and",
        ),
        (
            {"period": "forever"},
            "period",
            "Select a valid choice. forever is not one of the available choices.",
        ),
    ],
)
def test_bad_period_input_is_a_400_naming_the_field(
    supervisor: User, tenant: Tenant, params: dict[str, str], field: str, message: str
) -> None:
    response = _client(supervisor).get(URL, params)
    errors = response.context["form"].errors
    assert (
        response.status_code,
        list(errors),
        errors[field][0].startswith(message),
        _events(tenant),
    ) == (
        400,
        [field],
        True,
        [],
    )


def test_a_nul_byte_in_a_date_is_a_400(supervisor: User, tenant: Tenant) -> None:
    response = _client(supervisor).get(URL, {"since": "2026-11-01\x00", "until": "2026-11-30"})
    assert (response.status_code, _events(tenant)) == (400, [])


def test_a_range_of_366_days_is_accepted(supervisor: User) -> None:
    response = _client(supervisor).get(
        URL, {"period": "custom", "since": "2024-01-01", "until": "2024-12-31"}
    )
    assert response.status_code == 200


def test_the_error_is_shown_beside_its_field(supervisor: User) -> None:
    page = _client(supervisor).get(
        URL, {"period": "custom", "since": "2026-11-30", "until": "2026-11-01"}
    )
    assert 'id="error-until"' in page.content.decode()


# --- the view is audited -------------------------------------------------------------------


def test_each_view_records_one_event_with_the_periods_dates(
    supervisor: User, tenant: Tenant
) -> None:
    _client(supervisor).get(URL, {"period": "custom", "since": "2026-11-01", "until": "2026-11-07"})
    (event,) = _events(tenant)
    assert (
        event.actor,
        event.details["preset"],
        event.details["since"],
        event.details["until"],
    ) == (
        f"user:{supervisor.pk}",
        "custom",
        "2026-11-01",
        "2026-11-07",
    )


def test_the_event_names_the_panels_shown(supervisor: User, tenant: Tenant) -> None:
    _client(supervisor).get(URL)
    (event,) = _events(tenant)
    assert {
        "audits.compliance",
        "training.coverage",
        "privacy.erasure",
        "incidents.overview",
    } <= set(event.details["panels"]) and event.details["failed"] == []


# --- panels: the registry, order, isolation ------------------------------------------------


def _later_context(request: Any, tenant: Tenant, period: Period) -> dict[str, Any]:
    return {"figure": 41 + 1, "days": (period.last_day - period.first_day).days + 1}


def _broken_context(request: Any, tenant: Tenant, period: Period) -> dict[str, Any]:
    raise RuntimeError("this panel is broken")


@pytest.fixture
def later_panel() -> Iterator[str]:
    register_panel(
        "riders.dashboard_test",
        title="A later app's panel",
        roles=[Role.SUPERVISOR],
        order=1,
        template="audits/tests/later_panel.html",
        context=_later_context,
    )
    yield "riders.dashboard_test"
    unregister_panel("riders.dashboard_test")


@pytest.fixture
def broken_panel() -> Iterator[str]:
    register_panel(
        "incidents.dashboard_broken",
        title="A broken panel",
        roles=[Role.SUPERVISOR],
        order=2,
        template="audits/tests/later_panel.html",
        context=_broken_context,
    )
    yield "incidents.dashboard_broken"
    unregister_panel("incidents.dashboard_broken")


def _panel_keys(html: str) -> list[str]:
    return re.findall(r'<section class="baomi-dashboard-panel" data-panel="([^"]+)"', html)


def test_a_later_apps_panel_appears_in_its_order(supervisor: User, later_panel: str) -> None:
    response = _client(supervisor).get(URL, {"period": "7d"})
    page = response.content.decode()
    assert (_panel_keys(page)[:2], 'data-figure="42" data-days="7"' in page) == (
        ["audits.compliance", later_panel],
        True,
    )


def test_a_panel_is_not_shown_to_roles_it_does_not_name(tenant: Tenant, later_panel: str) -> None:
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    assert later_panel not in _panel_keys(_client(officer).get(URL).content.decode())


def test_a_broken_panel_is_a_small_box_and_the_others_render(
    supervisor: User, tenant: Tenant, later_panel: str, broken_panel: str, caplog: Any
) -> None:
    response = _client(supervisor).get(URL)
    page = response.content.decode()
    (event,) = _events(tenant)
    assert (
        response.status_code,
        "This panel could not be shown." in page,
        "this panel is broken" in page,
        'data-figure="42"' in page,
        event.details["failed"],
        "dashboard panel incidents.dashboard_broken failed" in caplog.text,
    ) == (200, True, False, True, [broken_panel], True)


def test_the_page_reads_in_a_bounded_number_of_queries(
    supervisor: User, tenant: Tenant, django_assert_max_num_queries: Any
) -> None:
    client = _client(supervisor)
    client.get(URL)  # warm the session and caches
    for _ in range(3):
        OrderFactory(tenant=tenant)
    # Every panel of issue 20 (eleven, and the compliance summary's indicators), each a
    # few indexed reads, whatever the tenant's size (the bench measures 1M orders / 10M events).
    with django_assert_max_num_queries(56):
        response = client.get(URL)
    assert response.status_code == 200


# --- no personal data ----------------------------------------------------------------------


def test_no_customers_personal_data_is_on_the_page(supervisor: User, tenant: Tenant) -> None:
    customer = {"name": "诸葛亮明", "phone": "13700001234", "address": "成都市武侯区锦里古街77号"}
    OrderFactory(tenant=tenant, customer=customer, note="后门交给门卫老王")
    page = _client(supervisor).get(URL).content.decode()
    found = [v for v in [*customer.values(), "后门交给门卫老王", "1234"] if v in page]
    assert found == []


def test_a_supervisor_sees_none_of_another_tenants_figures(supervisor: User) -> None:
    from tests.factories import ErasureRequestFactory

    ErasureRequestFactory(tenant=TenantFactory(), due_in=timedelta(days=-1))
    page = _client(supervisor).get(URL).content.decode()
    assert re.search(r'data-count="overdue"><a class="baomi-figure-n" href="[^"]+">0</a>', page)
