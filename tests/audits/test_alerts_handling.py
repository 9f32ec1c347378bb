"""Handling an alert in the back office (issue 20, point 2): the list and the alert's page,
acknowledge, dismiss with a reason, promote to an incident case (once), the thresholds'
page, the notification of a new alert, and the dashboard's panels."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.alert_evaluation import ALERT_OPENED, evaluate_tenant
from audits.alert_panels import alerts_panel, outside_panel
from audits.alerts import change_supervision_settings
from audits.hours import settings_for
from audits.models import AccessAlert, AuditEvent
from audits.panels import Period
from incidents.models import IncidentCase
from tenants.models import Notification, Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.factories import AccessAlertFactory, AuditEventFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")


def _supervisor(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])


def _page(alert: AccessAlert) -> str:
    return reverse("admin:audits_accessalert_change", args=[alert.pk])


def _post(client: Client, name: str, alert: AccessAlert, **data: str):  # noqa: ANN202
    return client.post(reverse(f"admin:audits_accessalert_{name}", args=[alert.pk]), data)


def _state(alert: AccessAlert) -> str:
    with tenant_scope(alert.tenant):
        return AccessAlert.objects.get(pk=alert.pk).state


def _actions(tenant: Tenant, prefix: str = "alerts.") -> list[str]:
    with tenant_scope(tenant):
        return list(
            AuditEvent.objects.filter(action__startswith=prefix)
            .order_by("sequence")
            .values_list("action", flat=True)
        )


@pytest.fixture
def supervised(client: Client) -> tuple[Client, AccessAlert]:
    tenant = TenantFactory()
    client.force_login(_supervisor(tenant))
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client, AccessAlertFactory(tenant=tenant)


# --- the list and the page --------------------------------------------------------------------


def test_the_alert_list_shows_the_rule_and_the_username(
    supervised: tuple[Client, AccessAlert],
) -> None:
    client, alert = supervised
    body = client.get(reverse("admin:audits_accessalert_changelist")).content.decode()
    assert ("Many reveals by one person" in body, alert.user.username in body) == (True, True)


def test_the_alert_list_filters_by_state(supervised: tuple[Client, AccessAlert]) -> None:
    client, alert = supervised
    url = reverse("admin:audits_accessalert_changelist")
    listed = client.get(f"{url}?state=dismissed").context["cl"].result_list
    assert list(listed) == []


def test_the_alert_list_reads_the_dashboard_period(
    supervised: tuple[Client, AccessAlert],
) -> None:
    client, alert = supervised
    url = reverse("admin:audits_accessalert_changelist")
    today = timezone.localdate().isoformat()
    response = client.get(f"{url}?since={today}&until={today}&rule=reveal_burst")
    assert (response.status_code, list(response.context["cl"].result_list)) == (200, [alert])


def test_the_alert_list_is_a_bounded_number_of_queries(
    client: Client, django_assert_max_num_queries
) -> None:
    tenant = TenantFactory()
    client.force_login(_supervisor(tenant))
    for _n in range(5):
        AccessAlertFactory(tenant=tenant)
    with django_assert_max_num_queries(25):
        client.get(reverse("admin:audits_accessalert_changelist"))


def test_the_alert_page_lists_the_events_that_fired_it_readably(
    supervised: tuple[Client, AccessAlert],
) -> None:
    client, alert = supervised
    body = client.get(_page(alert)).content.decode()
    assert ("Personal data revealed" in body, f"user:{alert.user.pk}" in body) == (True, False)


def test_another_tenants_alert_is_a_404(client: Client) -> None:
    alert = AccessAlertFactory(tenant=TenantFactory())
    client.force_login(_supervisor(TenantFactory()))
    assert client.get(_page(alert)).status_code == 404


def test_another_tenants_alert_cannot_be_acknowledged(client: Client) -> None:
    alert = AccessAlertFactory(tenant=TenantFactory())
    client.force_login(_supervisor(TenantFactory()))
    assert (_post(client, "acknowledge", alert).status_code, _state(alert)) == (404, "open")


def test_customer_service_cannot_open_an_alert(client: Client) -> None:
    tenant = TenantFactory()
    alert = AccessAlertFactory(tenant=tenant)
    client.force_login(UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE]))
    assert client.get(_page(alert)).status_code == 404


# --- acknowledge, dismiss -----------------------------------------------------------------


def test_acknowledging_an_open_alert_redirects_to_it_and_records_it(
    supervised: tuple[Client, AccessAlert],
) -> None:
    client, alert = supervised
    response = _post(client, "acknowledge", alert)
    assert (response.status_code, response["Location"], _state(alert)) == (
        302,
        _page(alert),
        "acknowledged",
    )


def test_acknowledging_is_audited(supervised: tuple[Client, AccessAlert]) -> None:
    client, alert = supervised
    _post(client, "acknowledge", alert)
    assert _actions(alert.tenant) == ["alerts.acknowledged"]


def test_acknowledging_twice_is_a_409_naming_the_state(
    supervised: tuple[Client, AccessAlert],
) -> None:
    client, alert = supervised
    _post(client, "acknowledge", alert)
    response = _post(client, "acknowledge", alert)
    assert (response.status_code, "This alert is Acknowledged" in response.content.decode()) == (
        409,
        True,
    )


def test_acknowledging_needs_a_post(supervised: tuple[Client, AccessAlert]) -> None:
    client, alert = supervised
    response = client.get(reverse("admin:audits_accessalert_acknowledge", args=[alert.pk]))
    assert (response.status_code, _state(alert)) == (405, "open")


def test_dismissing_without_a_reason_is_a_400_naming_the_field(
    supervised: tuple[Client, AccessAlert],
) -> None:
    client, alert = supervised
    response = _post(client, "dismiss", alert, reason="  ")
    assert (
        response.status_code,
        "Give the reason for dismissing the alert." in response.content.decode(),
        'aria-invalid="true"' in response.content.decode(),
        _state(alert),
    ) == (400, True, True, "open")


def test_dismissing_with_a_reason_keeps_the_reason_out_of_the_log(
    supervised: tuple[Client, AccessAlert],
) -> None:
    client, alert = supervised
    _post(client, "dismiss", alert, reason="Month-end calls, agreed with the manager")
    with tenant_scope(alert.tenant):
        event = AuditEvent.objects.get(action="alerts.dismissed")
        kept = AccessAlert.objects.get(pk=alert.pk).dismiss_reason
    assert (event.details, kept) == (
        {"rule": "reveal_burst"},
        "Month-end calls, agreed with the manager",
    )


def test_a_dismissed_alert_cannot_be_acknowledged(supervised: tuple[Client, AccessAlert]) -> None:
    client, alert = supervised
    _post(client, "dismiss", alert, reason="A test account")
    response = _post(client, "acknowledge", alert)
    assert (response.status_code, "This alert is Dismissed" in response.content.decode()) == (
        409,
        True,
    )


def test_an_over_long_reason_is_a_400(supervised: tuple[Client, AccessAlert]) -> None:
    client, alert = supervised
    response = _post(client, "dismiss", alert, reason="x" * 501)
    assert (response.status_code, "At most 500 characters." in response.content.decode()) == (
        400,
        True,
    )


# --- promote ------------------------------------------------------------------------------


def test_promoting_opens_a_case_and_lands_on_it(supervised: tuple[Client, AccessAlert]) -> None:
    client, alert = supervised
    response = _post(client, "promote", alert)
    with tenant_scope(alert.tenant):
        case = IncidentCase.objects.get(alert_id=alert.pk)
    assert (response.status_code, response["Location"], _state(alert)) == (
        302,
        reverse("admin:incidents_incidentcase_change", args=[case.pk]),
        "promoted",
    )


def test_the_case_page_links_back_to_the_alert(supervised: tuple[Client, AccessAlert]) -> None:
    client, alert = supervised
    response = _post(client, "promote", alert)
    body = client.get(response["Location"]).content.decode()
    assert f'href="{_page(alert)}"' in body


def test_a_second_promotion_is_a_409_naming_the_case(
    supervised: tuple[Client, AccessAlert],
) -> None:
    client, alert = supervised
    _post(client, "promote", alert)
    with tenant_scope(alert.tenant):
        code = IncidentCase.objects.get(alert_id=alert.pk).code
    response = _post(client, "promote", alert)
    assert (
        response.status_code,
        f"This alert was already promoted to the case {code}." in response.content.decode(),
    ) == (409, True)


def test_promotion_is_audited_with_the_case(supervised: tuple[Client, AccessAlert]) -> None:
    client, alert = supervised
    _post(client, "promote", alert)
    with tenant_scope(alert.tenant):
        case = IncidentCase.objects.get(alert_id=alert.pk)
        details = AuditEvent.objects.get(action="alerts.promoted").details
    assert details == {"rule": "reveal_burst", "case": case.pk, "case_code": case.code}


# --- a new alert's notification ---------------------------------------------------------------


def test_a_new_alert_notifies_supervisors_and_privacy_officers_once() -> None:
    tenant = TenantFactory()
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    supervisor = _supervisor(tenant)
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    change_supervision_settings(
        tenant=tenant,
        actor=officer,
        values={"reveal_burst_count": 2, "workday_start": time(0, 0), "workday_end": time(0, 0)},
    )
    start = timezone.now()
    for seconds in (0, 1, 2, 3):
        AuditEventFactory(tenant=tenant, actor=agent, at=start + timedelta(seconds=seconds))
        evaluate_tenant(tenant)
    with tenant_scope(tenant):
        told = sorted(
            Notification.objects.filter(kind=ALERT_OPENED).values_list("user_id", flat=True)
        )
    assert told == sorted([officer.pk, supervisor.pk])


# --- thresholds ---------------------------------------------------------------------------


def test_a_privacy_officer_changes_a_threshold_audited_with_the_field_names(
    client: Client,
) -> None:
    tenant = TenantFactory()
    client.force_login(UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER]))
    url = reverse("admin:audits_accessalert_settings")
    form = client.get(url).context["form"]
    data = {name: form[name].value() for name in form.fields}
    data.update(reveal_burst_count="80", workday_start="08:00")
    response = client.post(url, data)
    with tenant_scope(tenant):
        details = AuditEvent.objects.get(action="alerts.settings_changed").details
        saved = settings_for(tenant).reveal_burst_count
    assert (response.status_code, details, saved) == (
        302,
        {"fields": ["workday_start", "reveal_burst_count"]},
        80,
    )


def test_a_threshold_out_of_range_is_a_400_naming_the_field(client: Client) -> None:
    tenant = TenantFactory()
    client.force_login(UserFactory(tenant=tenant, roles=[Role.TENANT_ADMIN]))
    url = reverse("admin:audits_accessalert_settings")
    form = client.get(url).context["form"]
    data = {name: form[name].value() for name in form.fields}
    data.update(reveal_burst_count="1")
    response = client.post(url, data)
    assert (response.status_code, list(response.context["form"].errors)) == (
        400,
        ["reveal_burst_count"],
    )


def test_a_supervisor_sees_the_thresholds_but_cannot_change_them(client: Client) -> None:
    tenant = TenantFactory()
    client.force_login(_supervisor(tenant))
    url = reverse("admin:audits_accessalert_settings")
    assert (client.get(url).status_code, client.post(url, {"paging_pages": "9"}).status_code) == (
        200,
        403,
    )


# --- the dashboard's panels -------------------------------------------------------------------


def _period() -> Period:
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return Period(start=today - timedelta(days=6), end=today + timedelta(days=1))


def test_the_alerts_panel_counts_live_alerts_by_state_and_rule_with_links(rf) -> None:  # noqa: ANN001
    tenant = TenantFactory()
    AccessAlertFactory(tenant=tenant)
    AccessAlertFactory(tenant=tenant, rule="bulk_paging")
    with tenant_scope(tenant):
        context = alerts_panel(rf.get("/"), tenant, _period())
    assert (
        [(s["value"], s["n"]) for s in context["states"]],
        sorted((r["code"], r["n"], r["url"]) for r in context["rules"]),
    ) == (
        [("open", 2), ("acknowledged", 0)],
        [
            ("bulk_paging", 1, "/admin/audits/accessalert/?rule=bulk_paging"),
            ("reveal_burst", 1, "/admin/audits/accessalert/?rule=reveal_burst"),
        ],
    )


def test_the_alerts_panel_is_three_queries(rf, django_assert_max_num_queries) -> None:  # noqa: ANN001
    tenant = TenantFactory()
    for _n in range(4):
        AccessAlertFactory(tenant=tenant)
    with tenant_scope(tenant), django_assert_max_num_queries(3):
        alerts_panel(rf.get("/"), tenant, _period())


def test_the_outside_panel_counts_the_periods_reveals_of_the_outside_rules(rf) -> None:  # noqa: ANN001
    tenant = TenantFactory()
    AccessAlertFactory(tenant=tenant, rule="reveal_outside_hours")
    AccessAlertFactory(tenant=tenant, rule="reveal_burst")
    with tenant_scope(tenant):
        counts = outside_panel(rf.get("/"), tenant, _period())["counts"]
    assert [(c["code"], c["n"]) for c in counts] == [
        ("reveal_outside_hours", 1),
        ("reveal_outside_shift", 0),
        ("reveal_unassigned", 0),
    ]


def test_the_compliance_indicator_counts_alerts_open_longer_than_24_hours() -> None:
    from audits.alert_panels import stale_alerts

    tenant = TenantFactory()
    old = AccessAlertFactory(tenant=tenant)
    AccessAlertFactory(tenant=tenant)
    with tenant_scope(tenant):
        AccessAlert.objects.filter(pk=old.pk).update(opened_at=timezone.now() - timedelta(hours=25))
        indicator = stale_alerts(tenant, _period())
    assert (indicator.status, str(indicator.summary), indicator.link) == (
        "attention",
        "1 alert open longer than 24 h",
        "/admin/audits/accessalert/?state=open&stale=yes",
    )


def test_the_stale_alerts_list_shows_what_the_indicator_counts(client: Client) -> None:
    tenant = TenantFactory()
    old = AccessAlertFactory(tenant=tenant)
    AccessAlertFactory(tenant=tenant)
    with tenant_scope(tenant):
        AccessAlert.objects.filter(pk=old.pk).update(opened_at=timezone.now() - timedelta(hours=25))
    client.force_login(_supervisor(tenant))
    response = client.get("/admin/audits/accessalert/?state=open&stale=yes")
    assert [a.pk for a in response.context["cl"].result_list] == [old.pk]


def test_the_outside_panels_number_lists_the_events_it_counts(client: Client, rf) -> None:  # noqa: ANN001
    from audits.models import AccessAlertEvent

    tenant = TenantFactory()
    alert = AccessAlertFactory(tenant=tenant, rule="reveal_outside_hours")
    AccessAlertFactory(tenant=tenant, rule="reveal_burst")
    with tenant_scope(tenant):
        fired = list(
            AccessAlertEvent.objects.filter(alert=alert).values_list("event_id", flat=True)
        )
        [count] = [
            c
            for c in outside_panel(rf.get("/"), tenant, _period())["counts"]
            if c["code"] == "reveal_outside_hours"
        ]
    client.force_login(_supervisor(tenant))
    listed = client.get(count["url"]).context["cl"].result_list
    assert (count["n"], sorted(e.pk for e in listed)) == (1, sorted(fired))


def test_the_panels_templates_render_their_numbers_as_links(rf) -> None:  # noqa: ANN001
    from django.template.loader import render_to_string

    from audits.panels import all_panels

    tenant = TenantFactory()
    AccessAlertFactory(tenant=tenant, rule="reveal_outside_hours")
    panels = {panel.key: panel for panel in all_panels()}
    with tenant_scope(tenant):
        html = "".join(
            render_to_string(
                panels[key].template, panels[key].context_for(rf.get("/"), tenant, _period())
            )
            for key in ("audits.alerts", "audits.reveals_outside")
        )
    assert (
        'href="/admin/audits/accessalert/?state=open" data-count="open">Open: 1</a>' in html,
        'data-rule="reveal_outside_hours">1</a>' in html,
    ) == (True, True)


def test_an_alert_is_a_violations_evidence_within_its_tenant_only() -> None:
    from django.core.exceptions import ValidationError

    from audits.violations.evidence import resolve_evidence
    from tenants.scoping import tenant_scope

    tenant = TenantFactory()
    alert = AccessAlertFactory(tenant=tenant)
    with tenant_scope(tenant):
        found = resolve_evidence(tenant, "alert", f"#{alert.pk}")
    other = TenantFactory()
    with tenant_scope(other), pytest.raises(ValidationError) as error:
        resolve_evidence(other, "alert", str(alert.pk))
    assert found.label == f"Alert #{alert.pk}: Many reveals by one person, Open"
    assert found.url.endswith(f"/accessalert/{alert.pk}/change/")
    assert error.value.message_dict == {
        "object_id": [f"Anomalous-access alert {alert.pk} not found in your tenant."]
    }
