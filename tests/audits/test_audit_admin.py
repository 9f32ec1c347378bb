"""The back office's audit list and event page: actors by username and role, objects by
order code (never a customer's data), purposes by label, exact searches, filters that
ignore unknown values, a constant number of queries per page, and tenant isolation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audits.context import RequestContext, request_context
from audits.models import AuditEvent
from audits.services import record_event
from core.audit_registry import (
    is_registered_purpose,
    purpose_choices,
    purpose_label,
    register_purposes,
    unregister_app,
)
from privacy.permissions import Purpose
from tenants.actors import SystemActor
from tenants.models import Role, User
from tenants.scoping import tenant_scope
from tests.factories import (
    IntegrationTokenFactory,
    OrderFactory,
    TenantFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db(databases="__all__")

LIST = "admin:audits_auditevent_changelist"
SYSTEM = SystemActor("seed-demo")


def _list(client: Client, language: str = "en", **params: str) -> Any:
    response = client.get(reverse(LIST), params, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return response


def _rows(response: Any) -> list[AuditEvent]:
    return list(response.context["cl"].result_list)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def _selected_filter(response: Any, title: str) -> str:
    """The text of the selected choice of the filter titled ``title`` (as the page lists it)."""
    cl = response.context["cl"]
    (spec,) = [spec for spec in cl.filter_specs if str(spec.title) == title]
    (selected,) = [str(c["display"]) for c in spec.choices(cl) if c["selected"]]
    assert f"{selected}" in response.content.decode()
    return selected


def _cells(html: str, field: str) -> list[str]:
    """The texts of the list's cells of column ``field``."""
    return [
        _text(cell).strip()
        for cell in re.findall(rf'<td class="field-{field}[^"]*"[^>]*>(.*?)</td>', html, re.S)
    ]


@pytest.fixture
def tenant() -> Any:
    return TenantFactory()


@pytest.fixture
def supervisor(tenant: Any) -> User:
    return UserFactory(tenant=tenant, username="sv-li", roles=[Role.SUPERVISOR])


@pytest.fixture
def logged_in(client: Client, supervisor: User) -> Client:
    client.force_login(supervisor)
    return client


@pytest.fixture
def scratch_purposes() -> Iterator[str]:
    yield "scratch"
    unregister_app("scratch")
    unregister_app("scratch_two")


# --- the purpose registry ----------------------------------------------------------------------


def test_privacy_registers_its_purposes_with_their_labels() -> None:
    assert {value for value, _label in purpose_choices()} == set(Purpose.values)
    assert purpose_label(Purpose.DELIVERY) == "Delivering the order"
    assert purpose_label("retired_purpose") == "retired_purpose"  # an old value: raw
    assert is_registered_purpose(Purpose.PACKING) and not is_registered_purpose("bogus")


def test_a_purpose_of_another_app_is_refused(scratch_purposes: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="already registered by app 'privacy'"):
        register_purposes(scratch_purposes, [(Purpose.DELIVERY.value, "Mine")])
    with pytest.raises(ImproperlyConfigured, match="needs a label"):
        register_purposes(scratch_purposes, [("", "No value")])
    register_purposes(scratch_purposes, [("scratch_purpose", "Scratch")])
    register_purposes(scratch_purposes, [("scratch_purpose", "Scratch")])  # again: no change
    assert purpose_label("scratch_purpose") == "Scratch"
    with pytest.raises(ImproperlyConfigured):
        register_purposes("scratch_two", [("scratch_purpose", "Theirs")])
    unregister_app(scratch_purposes)
    assert purpose_label("scratch_purpose") == "scratch_purpose"
    assert purpose_label(Purpose.DELIVERY) == "Delivering the order"


# --- what a row shows --------------------------------------------------------------------------


def test_actors_are_shown_by_username_and_roles_and_the_stored_label_is_unchanged(
    logged_in: Client, tenant: Any
) -> None:
    agent = UserFactory(
        tenant=tenant, username="cs-wang", roles=[Role.CUSTOMER_SERVICE, Role.SUPERVISOR]
    )
    gone = UserFactory(tenant=tenant, username="gone-zhao", roles=[Role.KITCHEN])
    gone_id = gone.pk
    token = IntegrationTokenFactory(tenant=tenant, name="partner POS")
    stranger = UserFactory(tenant=TenantFactory(), username="other-tenant-user")
    record_event(tenant=tenant, actor=agent, action="privacy.search")
    record_event(tenant=tenant, actor=gone, action="privacy.search")
    record_event(tenant=tenant, actor=SYSTEM, action="privacy.search")
    record_event(tenant=tenant, actor=token, action="privacy.search")
    # A label naming a user of another tenant (never written, but never shown by name).
    record_event(tenant=tenant, actor=stranger, action="privacy.search")
    with tenant_scope(tenant):
        gone.delete()

    html = _text(_list(logged_in).content.decode())
    assert "cs-wang (Customer service, Supervisor)" in html
    assert f"user #{gone_id} (deleted)" in html
    assert "System: seed-demo" in html
    assert "Integration token: partner POS" in html
    assert "other-tenant-user" not in html
    assert f"user #{stranger.pk} (deleted)" in html
    with tenant_scope(tenant):
        assert AuditEvent.objects.filter(actor=f"user:{agent.pk}").count() == 1
        assert AuditEvent.objects.filter(actor=f"user:{gone_id}").count() == 1


def test_objects_are_shown_by_order_code_and_customers_by_a_short_id_only(
    logged_in: Client, tenant: Any
) -> None:
    order = OrderFactory(tenant=tenant)
    record_event(tenant=tenant, actor=SYSTEM, action="privacy.search", target=order)
    # Old or odd rows: a malformed id, a type no model has, nothing at all.
    record_event(
        tenant=tenant,
        actor=SYSTEM,
        action="privacy.search",
        object_type="orders.order",
        object_id="not-a-uuid",
    )
    record_event(
        tenant=tenant,
        actor=SYSTEM,
        action="privacy.search",
        object_type="gone.thing",
        object_id="9",
    )
    record_event(tenant=tenant, actor=SYSTEM, action="privacy.search")

    response = _list(logged_in)
    html = response.content.decode()
    url = reverse("admin:orders_order_change", args=[order.pk])
    assert f'Order <a class="audit-object-code" href="{url}">{order.code}</a>' in html
    with tenant_scope(tenant):
        subject_id = str(order.subject_id)
    assert f'Customer <span class="audit-object-id">{subject_id[:8]}…</span>' in html
    assert "Privacy notice" in html  # another type: its name and its id
    assert "not-a-uuid" in html and "gone.thing" in html
    # Never the customer's data (the factory's name, phone, address, note).
    for personal in ("欧阳娜娜", "13912345678", "张江路", "放门口", subject_id):
        assert personal not in _text(html).replace(f"{subject_id[:8]}…", "")


def test_purposes_are_shown_by_their_label_in_both_languages(
    logged_in: Client, tenant: Any
) -> None:
    record_event(
        tenant=tenant,
        actor=SYSTEM,
        action="privacy.search",
        purpose=Purpose.CUSTOMER_SERVICE_CALL,
        fields=["phone"],
    )
    record_event(tenant=tenant, actor=SYSTEM, action="privacy.search", purpose="old_purpose")

    english = _list(logged_in).content.decode()
    assert {"Customer-service call", "old_purpose"} <= set(_cells(english, "purpose_display"))
    assert "Phone" in _cells(english, "fields_display")  # the field by its label
    chinese = _list(logged_in, "zh-hans").content.decode()
    assert "客服通话" in _cells(chinese, "purpose_display")
    assert "customer_service_call</td>" not in chinese


# --- search ------------------------------------------------------------------------------------


def test_search_by_order_code_username_and_request_id(logged_in: Client, tenant: Any) -> None:
    order, other_order = OrderFactory(tenant=tenant), OrderFactory(tenant=tenant)
    agent = UserFactory(tenant=tenant, username="cs-wang", roles=[Role.CUSTOMER_SERVICE])
    about_order = record_event(tenant=tenant, actor=SYSTEM, action="privacy.search", target=order)
    by_agent = record_event(tenant=tenant, actor=agent, action="privacy.search")
    with request_context(RequestContext(request_id="f" * 32)):
        in_request = record_event(tenant=tenant, actor=SYSTEM, action="privacy.search")

    found = {e.pk for e in _rows(_list(logged_in, q=order.code))}
    assert about_order.pk in found
    with tenant_scope(tenant):
        expected = set(
            AuditEvent.objects.filter(
                object_type="orders.order", object_id=str(order.pk)
            ).values_list("pk", flat=True)
        )
    assert found == expected  # the order's events only (intake's among them)
    assert str(other_order.pk) not in {e.object_id for e in _rows(_list(logged_in, q=order.code))}
    assert {e.pk for e in _rows(_list(logged_in, q=f" {order.code.lower()} "))} == expected
    assert {e.pk for e in _rows(_list(logged_in, q="cs-wang"))} == {by_agent.pk}
    assert {e.pk for e in _rows(_list(logged_in, q="f" * 32))} == {in_request.pk}
    assert _rows(_list(logged_in, q="nobody-by-that-name")) == []
    assert _rows(_list(logged_in, q="x" * 500)) == []  # too long to be anything: no 500
    assert _rows(_list(logged_in, q="%")) == []  # no LIKE: a wildcard matches nothing


def test_search_never_reaches_another_tenant(logged_in: Client, tenant: Any) -> None:
    other = TenantFactory()
    foreign_order = OrderFactory(tenant=other)
    foreign_user = UserFactory(tenant=other, username="their-agent", roles=[Role.DISPATCHER])
    record_event(tenant=other, actor=foreign_user, action="privacy.search", target=foreign_order)
    record_event(tenant=tenant, actor=SYSTEM, action="privacy.search")

    assert _rows(_list(logged_in, q=foreign_order.code)) == []
    assert _rows(_list(logged_in, q="their-agent")) == []
    assert _rows(_list(logged_in, q=str(foreign_order.pk))) == []


# --- filters -------------------------------------------------------------------------------------


def test_filters_by_role_purpose_category_and_action(logged_in: Client, tenant: Any) -> None:
    rider = UserFactory(tenant=tenant, username="rider-chen", roles=[Role.RIDER])
    agent = UserFactory(tenant=tenant, username="cs-wang", roles=[Role.CUSTOMER_SERVICE])
    by_rider = record_event(
        tenant=tenant, actor=rider, action="privacy.search", purpose=Purpose.DELIVERY
    )
    by_agent = record_event(
        tenant=tenant,
        actor=agent,
        action="privacy.reveal_denied",
        purpose=Purpose.CUSTOMER_SERVICE_CALL,
    )
    by_system = record_event(tenant=tenant, actor=SYSTEM, action="privacy.backup_overdue")

    assert [e.pk for e in _rows(_list(logged_in, role=Role.RIDER))] == [by_rider.pk]
    assert [e.pk for e in _rows(_list(logged_in, role=Role.CUSTOMER_SERVICE))] == [by_agent.pk]
    assert _rows(_list(logged_in, role=Role.PACKER)) == []
    assert [e.pk for e in _rows(_list(logged_in, purpose=Purpose.DELIVERY))] == [by_rider.pk]
    assert [e.pk for e in _rows(_list(logged_in, action="privacy.backup_overdue"))] == [
        by_system.pk
    ]
    security = {e.pk for e in _rows(_list(logged_in, category="security"))}
    assert by_system.pk in security and by_rider.pk not in security
    assert (
        _selected_filter(_list(logged_in, "zh-hans", purpose=Purpose.DELIVERY), "用途")
        == "配送订单"
    )


@pytest.mark.parametrize(
    ("parameter", "title"),
    [("category", "category"), ("action", "action"), ("role", "role"), ("purpose", "purpose")],
)
def test_an_unknown_filter_value_is_ignored_and_the_filter_says_all(
    logged_in: Client, tenant: Any, parameter: str, title: str
) -> None:
    record_event(tenant=tenant, actor=SYSTEM, action="privacy.search", purpose=Purpose.DELIVERY)
    response = _list(logged_in, **{parameter: "bogus'<x>"})
    assert len(_rows(response)) == len(_rows(_list(logged_in)))
    assert _selected_filter(response, title) == "All"


def test_the_date_hierarchy_filters_and_a_bad_date_is_not_a_500(
    logged_in: Client, tenant: Any
) -> None:
    event = record_event(tenant=tenant, actor=SYSTEM, action="privacy.search")
    with tenant_scope(tenant):
        occurred = AuditEvent.objects.get(pk=event.pk).occurred_at
    from django.utils import timezone

    day = timezone.localtime(occurred)
    same_day = _list(
        logged_in,
        occurred_at__year=str(day.year),
        occurred_at__month=str(day.month),
        occurred_at__day=str(day.day),
    )
    assert event.pk in {e.pk for e in _rows(same_day)}
    assert _rows(_list(logged_in, occurred_at__year="1999")) == []
    bad = logged_in.get(reverse(LIST), {"occurred_at__year": "abc"})
    assert bad.status_code in (200, 302)


# --- queries per page ----------------------------------------------------------------------------


def test_a_page_costs_the_same_queries_for_1_or_50_events(
    client: Client, django_assert_max_num_queries: Any
) -> None:
    """One query for the page's users and one for its orders (one more for API tokens when
    a token acted), whatever the number of events: the list filtered to one action shows 1
    event in one tenant and 50, by 10 users with roles, on 5 orders, in another."""

    def page_of(count: int, *, with_token: bool = False) -> Client:
        tenant = TenantFactory()
        viewer = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
        orders = [OrderFactory(tenant=tenant) for _ in range(min(count, 5))]
        actors: list[Any] = [
            UserFactory(tenant=tenant, roles=[Role.DISPATCHER, Role.KITCHEN])
            for _ in range(min(count, 10))
        ]
        actors.append(SYSTEM)
        if with_token:
            actors.append(IntegrationTokenFactory(tenant=tenant))
        for n in range(count):
            record_event(
                tenant=tenant,
                actor=actors[n % len(actors)],
                action="privacy.reveal_denied",
                target=orders[n % len(orders)],
                purpose=Purpose.DELIVERY,
            )
        page_client = Client()
        page_client.force_login(viewer)
        return page_client

    one_client = page_of(1)
    with CaptureQueriesContext(connection) as one:
        assert len(_rows(_list(one_client, action="privacy.reveal_denied"))) == 1
    many_client = page_of(50)
    with django_assert_max_num_queries(len(one.captured_queries)):
        rows = _rows(_list(many_client, action="privacy.reveal_denied"))
    assert len(rows) == 50
    with_token = page_of(50, with_token=True)
    with django_assert_max_num_queries(len(one.captured_queries) + 1):
        assert len(_rows(_list(with_token, action="privacy.reveal_denied"))) == 50


# --- the event's page and isolation --------------------------------------------------------------


def test_the_event_page_shows_readable_fields_and_the_stored_values_collapsed(
    logged_in: Client, tenant: Any
) -> None:
    agent = UserFactory(tenant=tenant, username="cs-wang", roles=[Role.CUSTOMER_SERVICE])
    order = OrderFactory(tenant=tenant)
    event = record_event(
        tenant=tenant,
        actor=agent,
        action="privacy.reveal_denied",
        target=order,
        purpose=Purpose.CUSTOMER_SERVICE_CALL,
        fields=["phone"],
    )
    url = reverse("admin:audits_auditevent_change", args=[event.pk])
    html = logged_in.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    text = _text(html)
    assert "cs-wang (Customer service)" in text
    assert f"Order {order.code}" in text
    assert "Customer-service call" in text
    stored = html[html.index("audit-stored") :]
    assert re.match(r'audit-stored"[^>]*>\s*<details>', stored)  # collapsed
    readable = html[: html.index("audit-stored")]
    assert f"user:{agent.pk}" not in readable and str(order.pk) not in _text(readable)
    assert f"user:{agent.pk}" in stored and str(order.pk) in stored
    assert "customer_service_call" in stored and event.hash in stored
    chinese = _text(logged_in.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode())
    assert "cs-wang (客服)" in chinese and "客服通话" in chinese


def test_another_tenants_event_is_a_404(logged_in: Client) -> None:
    other = TenantFactory()
    foreign = record_event(tenant=other, actor=SYSTEM, action="privacy.search")
    url = reverse("admin:audits_auditevent_change", args=[foreign.pk])
    assert logged_in.get(url).status_code == 404
    assert foreign.pk not in {e.pk for e in _rows(_list(logged_in))}


def test_a_platform_operator_sees_every_tenants_events_readably(client: Client) -> None:
    from tests.factories import OperatorFactory

    first, second = TenantFactory(), TenantFactory()
    order = OrderFactory(tenant=second)
    agent = UserFactory(tenant=first, username="cs-first", roles=[Role.CUSTOMER_SERVICE])
    record_event(tenant=first, actor=agent, action="privacy.search")
    record_event(tenant=second, actor=SYSTEM, action="privacy.search", target=order)
    client.force_login(OperatorFactory())
    html = _text(_list(client).content.decode())
    assert "cs-first (Customer service)" in html and f"Order {order.code}" in html
    assert {e.object_id for e in _rows(_list(client, q=order.code))} == {str(order.pk)}


def test_a_station_pages_batch_event_shows_its_orders_by_code_and_is_found_by_each_code(
    logged_in: Client, tenant: Any
) -> None:
    orders = [OrderFactory(tenant=tenant) for _ in range(7)]
    other = OrderFactory(tenant=tenant)
    batch = record_event(
        tenant=tenant,
        actor=SYSTEM,
        action="privacy.reveal_batch",
        object_type="orders.order",
        purpose=Purpose.FOOD_PREPARATION,
        fields=["items"],
        details={"objects": [str(o.pk) for o in orders], "count": len(orders)},
    )
    html = _list(logged_in).content.decode()
    for order in orders[:5]:
        url = reverse("admin:orders_order_change", args=[order.pk])
        assert f'<a class="audit-object-code" href="{url}">{order.code}</a>' in html
    assert "and 2 more" in html
    assert str(orders[0].pk) not in _text(html)  # codes, not ids
    # The sixth order is not shown on the row but its code finds the event.
    assert batch.pk in {e.pk for e in _rows(_list(logged_in, q=orders[5].code))}
    assert batch.pk not in {e.pk for e in _rows(_list(logged_in, q=other.code))}


def test_an_event_about_a_user_names_them(logged_in: Client, tenant: Any) -> None:
    person = UserFactory(tenant=tenant, username="new-cook", roles=[Role.KITCHEN])
    record_event(
        tenant=tenant,
        actor=SYSTEM,
        action="privacy.search",
        object_type="tenants.user",
        object_id=str(person.pk),
    )
    cells = _cells(_list(logged_in).content.decode(), "object_display")
    assert any(cell.startswith("User new-cook") for cell in cells), cells
