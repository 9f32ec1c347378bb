"""Resolving an order anomaly: the service (who, what, once) and its page in the admin."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from audits.models import AuditEvent
from core.errors import Conflict
from incidents.models import AnomalyKind, AnomalyOutcome, OrderAnomaly
from incidents.services import report_anomaly, resolve_anomaly
from tenants.actors import SystemActor
from tenants.models import Role, Tenant
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def anomaly() -> OrderAnomaly:
    order = OrderFactory(tenant=TenantFactory())
    return report_anomaly(order=order, kind=AnomalyKind.LOST, actor=SystemActor("tests"))


def _reload(anomaly: OrderAnomaly) -> OrderAnomaly:
    with tenant_scope(anomaly.tenant):
        return OrderAnomaly.objects.get(pk=anomaly.pk)


def _events(tenant: Tenant, action: str) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(action=action))


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.CUSTOMER_SERVICE, True),
        (Role.TENANT_ADMIN, True),
        (Role.SUPERVISOR, False),
        (Role.DISPATCHER, False),
        (Role.KITCHEN, False),
        (Role.PACKER, False),
        (Role.RIDER, False),
        (Role.PRIVACY_OFFICER, False),
    ],
)
def test_who_may_resolve(anomaly: OrderAnomaly, role: Role, allowed: bool) -> None:
    actor = UserFactory(tenant=anomaly.tenant, roles=[role])
    try:
        resolve_anomaly(anomaly=anomaly, outcome="refunded", note="", actor=actor)
        resolved = True
    except PermissionDenied:
        resolved = False
    assert (resolved, _reload(anomaly).resolved_at is not None) == (allowed, allowed)


def test_a_system_actor_may_not_resolve(anomaly: OrderAnomaly) -> None:
    with pytest.raises(PermissionDenied):
        resolve_anomaly(anomaly=anomaly, outcome="refunded", note="", actor=SystemActor("x"))


def test_resolving_records_who_when_what_and_an_event_without_the_note(
    anomaly: OrderAnomaly,
) -> None:
    agent = UserFactory(tenant=anomaly.tenant, roles=[Role.CUSTOMER_SERVICE], username="cs-li")
    resolve_anomaly(
        anomaly=anomaly, outcome=AnomalyOutcome.REDELIVERED, note="sent again", actor=agent
    )
    resolved = _reload(anomaly)
    (event,) = _events(anomaly.tenant, "incidents.anomaly_resolved")
    assert (
        resolved.outcome,
        resolved.note,
        resolved.resolved_by,
        resolved.resolved_at is not None,
        event.details,
        event.object_id,
    ) == (
        "redelivered",
        "sent again",
        f"user:{agent.pk}",
        True,
        {"outcome": "redelivered", "anomaly": anomaly.pk},
        str(anomaly.order_id),
    )


def test_resolving_twice_is_a_conflict(anomaly: OrderAnomaly) -> None:
    agent = UserFactory(tenant=anomaly.tenant, roles=[Role.CUSTOMER_SERVICE])
    resolve_anomaly(anomaly=anomaly, outcome="no_action", note="", actor=agent)
    with pytest.raises(Conflict) as error:
        resolve_anomaly(anomaly=anomaly, outcome="refunded", note="", actor=agent)
    assert (
        error.value.message,
        _reload(anomaly).outcome,
        len(_events(anomaly.tenant, "incidents.anomaly_resolved")),
    ) == (f"This anomaly was already resolved by {agent.username}.", "no_action", 1)


@pytest.mark.parametrize(
    ("outcome", "note", "errors"),
    [
        ("nonsense", "", {"outcome": ["Choose an outcome."]}),
        ("refunded", "x" * 201, {"note": ["At most 200 characters."]}),
        ("refunded", "line\nbreak", {"note": ["Must not contain control characters."]}),
        ("refunded", "bell\x07", {"note": ["Must not contain control characters."]}),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(
    anomaly: OrderAnomaly, outcome: str, note: str, errors: dict[str, Any]
) -> None:
    agent = UserFactory(tenant=anomaly.tenant, roles=[Role.CUSTOMER_SERVICE])
    with pytest.raises(ValidationError) as error:
        resolve_anomaly(anomaly=anomaly, outcome=outcome, note=note, actor=agent)
    assert (error.value.message_dict, _reload(anomaly).resolved_at) == (errors, None)


# The admin.


def _page(client: Client, anomaly: OrderAnomaly) -> str:
    url = reverse("admin:incidents_orderanomaly_change", args=[anomaly.pk])
    return client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()


def _post(client: Client, anomaly: OrderAnomaly, **data: str) -> Any:
    url = reverse("admin:incidents_orderanomaly_resolve", args=[anomaly.pk])
    return client.post(url, data, HTTP_ACCEPT_LANGUAGE="en")


def test_customer_service_resolves_on_the_page_and_a_reload_does_nothing_twice(
    client: Client, anomaly: OrderAnomaly
) -> None:
    client.force_login(UserFactory(tenant=anomaly.tenant, roles=[Role.CUSTOMER_SERVICE]))
    before = _page(client, anomaly)
    posted = _post(client, anomaly, outcome="refunded", note="refund issued")
    after = _page(client, anomaly)
    again = _post(client, anomaly, outcome="refunded", note="refund issued")
    after_again = _page(client, anomaly)
    assert (
        'id="resolve-form"' in before,
        "Do not write personal data" in before,
        posted.status_code,
        posted.url,
        "The anomaly is resolved." in after,
        'id="resolve-form"' in after,
        again.status_code,
        "This anomaly was already resolved by" in after_again,
        len(_events(anomaly.tenant, "incidents.anomaly_resolved")),
    ) == (
        True,
        True,
        302,
        reverse("admin:incidents_orderanomaly_change", args=[anomaly.pk]),
        True,
        False,
        302,
        True,
        1,
    )


def test_a_bad_note_on_the_page_is_a_message(client: Client, anomaly: OrderAnomaly) -> None:
    client.force_login(UserFactory(tenant=anomaly.tenant, roles=[Role.CUSTOMER_SERVICE]))
    response = _post(client, anomaly, outcome="refunded", note="bell\x07")
    page = _page(client, anomaly)
    assert (
        response.status_code,
        "Must not contain control characters." in page,
        _reload(anomaly).resolved_at,
    ) == (302, True, None)


def test_the_supervisor_sees_the_outcome_and_the_note_but_no_form(
    client: Client, anomaly: OrderAnomaly
) -> None:
    agent = UserFactory(tenant=anomaly.tenant, roles=[Role.CUSTOMER_SERVICE])
    resolve_anomaly(anomaly=anomaly, outcome="escalated", note="see incident 7", actor=agent)
    client.force_login(UserFactory(tenant=anomaly.tenant, roles=[Role.SUPERVISOR]))
    page = _page(client, anomaly)
    assert (
        "Escalated to an incident" in page,
        "see incident 7" in page,
        'id="resolve-form"' in page,
    ) == (True, True, False)


def test_a_supervisors_post_is_refused_with_a_message(
    client: Client, anomaly: OrderAnomaly
) -> None:
    client.force_login(UserFactory(tenant=anomaly.tenant, roles=[Role.SUPERVISOR]))
    _post(client, anomaly, outcome="refunded", note="")
    page = _page(client, anomaly)
    assert (
        "Only customer service or a tenant administrator resolves anomalies." in page,
        _reload(anomaly).resolved_at,
    ) == (True, None)


def test_another_tenants_anomaly_is_a_404(client: Client, anomaly: OrderAnomaly) -> None:
    client.force_login(UserFactory(tenant=TenantFactory(), roles=[Role.CUSTOMER_SERVICE]))
    assert _post(client, anomaly, outcome="refunded", note="").status_code == 404


def test_the_list_shows_open_anomalies_first_and_filters(
    client: Client, anomaly: OrderAnomaly
) -> None:
    agent = UserFactory(tenant=anomaly.tenant, roles=[Role.CUSTOMER_SERVICE])
    later = report_anomaly(order=anomaly.order, kind=AnomalyKind.DAMAGED, actor=agent)
    resolve_anomaly(anomaly=later, outcome="refunded", note="", actor=agent)
    still_open = report_anomaly(order=anomaly.order, kind=AnomalyKind.LOST, actor=agent)
    client.force_login(agent)
    url = reverse("admin:incidents_orderanomaly_changelist")
    listed = client.get(url).context["cl"].result_list
    open_only = client.get(url, {"state": "open"}).context["cl"].result_list
    resolved_only = client.get(url, {"state": "resolved"}).context["cl"].result_list
    damaged = client.get(url, {"kind__exact": "damaged"}).context["cl"].result_list
    assert (
        [a.pk for a in listed],
        [a.pk for a in open_only],
        [a.pk for a in resolved_only],
        [a.pk for a in damaged],
    ) == (
        [still_open.pk, anomaly.pk, later.pk],
        [still_open.pk, anomaly.pk],
        [later.pk],
        [later.pk],
    )


def test_erasure_clears_the_resolution_note(anomaly: OrderAnomaly) -> None:
    from privacy.erasure import erase_subject
    from privacy.models import ErasureReason

    agent = UserFactory(tenant=anomaly.tenant, roles=[Role.CUSTOMER_SERVICE])
    resolve_anomaly(anomaly=anomaly, outcome="refunded", note="refund issued", actor=agent)
    erase_subject(
        tenant=anomaly.tenant,
        subject_id=anomaly.order.subject_id,
        reason=ErasureReason.ADMINISTRATOR,
        actor=SystemActor("tests"),
    )
    resolved = _reload(anomaly)
    assert (resolved.note, resolved.outcome) == ("", "refunded")
