"""Edges of supervision found by a review (issue 20): nobody handles the alert about their
own access; hand-edited list URLs and ids never give a 500."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from audits.alerts import dismiss_alert
from audits.models import AccessAlert
from core.errors import Conflict
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.factories import AccessAlertFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")


def _client_of(user) -> Client:  # noqa: ANN001
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def test_a_supervisor_cannot_dismiss_the_alert_about_themselves() -> None:
    tenant = TenantFactory()
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    alert = AccessAlertFactory(tenant=tenant, user=officer)
    with tenant_scope(tenant), pytest.raises(Conflict) as error:
        dismiss_alert(alert=alert, actor=officer, reason="fine")
    assert error.value.message == "This alert is about you: another supervisor handles it."


def test_the_alert_about_oneself_is_neither_listed_nor_opened_but_others_see_it() -> None:
    tenant = TenantFactory()
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    boss = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    alert = AccessAlertFactory(tenant=tenant, user=officer)
    page = reverse("admin:audits_accessalert_change", args=[alert.pk])
    listed = reverse("admin:audits_accessalert_changelist")
    own = _client_of(officer)
    other = _client_of(boss)
    own_list, other_list = own.get(listed), other.get(listed)
    assert (own.get(page).status_code, other.get(page).status_code) == (404, 200)
    assert (own_list.context["cl"].result_count, other_list.context["cl"].result_count) == (0, 1)


def test_a_dismissal_posted_about_oneself_changes_nothing() -> None:
    tenant = TenantFactory()
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    alert = AccessAlertFactory(tenant=tenant, user=officer)
    response = _client_of(officer).post(
        reverse("admin:audits_accessalert_dismiss", args=[alert.pk]), {"reason": "fine"}
    )
    with tenant_scope(tenant):
        state = AccessAlert.objects.get(pk=alert.pk).state
    assert (response.status_code, state) == (404, "open")


@pytest.mark.parametrize(
    "url",
    [
        "/admin/audits/violation/?until=9999-12-31",
        "/admin/audits/violation/?sanction=warning&until=9999-12-31",
        "/admin/audits/accessalert/?until=9999-12-31",
        "/admin/audits/accessalert/?since=0001-01-01",
        "/admin/audits/auditevent/?until=9999-12-31",
    ],
)
def test_a_list_with_an_absurd_day_answers_without_a_500(url: str) -> None:
    tenant = TenantFactory()
    boss = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    assert _client_of(boss).get(url).status_code == 200


@pytest.mark.parametrize("object_id", ["%C2%B2", "%D9%A3", "1" * 25])
def test_an_inspection_id_that_is_not_ascii_digits_is_a_404(object_id: str) -> None:
    tenant = TenantFactory()
    boss = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    client = _client_of(boss)
    codes = [
        client.get(f"/admin/audits/followup/{object_id}/change/").status_code,
        client.get(f"/admin/audits/inspection/{object_id}/checklist/").status_code
        if object_id.isdigit()
        else 404,
    ]
    assert codes == [404, 404]


def test_a_recurring_inspection_cannot_be_planned_beyond_five_years() -> None:
    from django.core.exceptions import ValidationError

    from audits.inspections import services

    tenant = TenantFactory()
    boss = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    with pytest.raises(ValidationError) as error:
        services.plan_inspection(
            tenant=tenant,
            actor=boss,
            title="Yearly",
            scope="full",
            planned_for="9999-12-15",
            inspector_id=boss.pk,
            recurrence="monthly",
        )
    assert error.value.message_dict == {
        "planned_for": ["The date cannot be more than five years ahead."]
    }


def test_the_inspections_pack_section_leaves_staff_written_text_out() -> None:
    from datetime import timedelta

    from django.utils import timezone

    from audits.inspections import services
    from audits.inspections.supervision import inspections_pack
    from audits.panels import Period
    from tests.audits.inspection_support import items_of
    from tests.factories import InspectionFactory

    tenant = TenantFactory()
    boss = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    inspection = InspectionFactory(tenant=tenant, inspector=boss, title="Bag for Mr Zhang")
    services.start_inspection(inspection=inspection, actor=boss)
    with tenant_scope(tenant):
        services.record_finding(
            inspection=inspection,
            item_id=items_of(inspection)[0].pk,
            actor=boss,
            result="fail",
            note="Label showed 13800138000",
            follow_up_owner_id=boss.pk,
            follow_up_due=(timezone.localdate() + timedelta(days=7)).isoformat(),
        )
    now = timezone.now()
    section = inspections_pack(tenant, Period(now - timedelta(days=30), now + timedelta(days=30)))
    text = repr([(f.header, list(f.rows)) for f in section.files])
    assert ("Mr Zhang" in text, "13800138000" in text, "'yes'" in text) == (False, False, True)


def test_the_actions_the_alert_rules_read_per_person_are_those_the_partial_index_covers() -> None:
    from audits.alert_rules import DENIED_ACTIONS, REVEAL_ACTIONS
    from audits.models import PERSON_ACCESS_ACTIONS

    assert (REVEAL_ACTIONS | DENIED_ACTIONS) - set(PERSON_ACCESS_ACTIONS) == set()
