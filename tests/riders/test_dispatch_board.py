"""Issue 17, point 2: the dispatcher's board — packed orders waiting for a rider, riders with
their load and why each cannot be dispatched, assignment in one click (post/redirect/get; a
replayed POST never reassigns), other tenants' ids a 404, for dispatchers only; and the
dispatcher lands on it at /admin/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from orders.models import Order, Status
from riders.dispatch import assign_rider
from riders.models import Rider
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tenants.two_factor import ROLES_NEEDING_TWO_FACTOR
from tests.factories import TenantFactory, UserFactory, verified_second_factor
from tests.riders.conftest import make_rider, packed_order, perm_rows, refreshed

pytestmark = pytest.mark.django_db(databases="__all__")

BOARD = "/admin/orders/order/dispatch/"
ASSIGN = "/admin/orders/order/dispatch/assign/"


def _dispatcher(client: Client, tenant: Tenant) -> User:
    user = UserFactory(tenant=tenant, roles=[Role.DISPATCHER], username="dispatcher-zhao")
    client.force_login(user)
    return user


def _board(client: Client) -> str:
    response = client.get(BOARD, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    return response.content.decode()


def _packed_at(order: Order, minutes_ago: int) -> None:
    with tenant_scope(order.tenant):
        Order.objects.filter(pk=order.pk).update(
            status_changed_at=timezone.now() - timedelta(minutes=minutes_ago)
        )


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _assigned_to(order: Order) -> list[str]:
    from riders.selectors import live_assignment

    with tenant_scope(order.tenant):
        current = live_assignment(order)
        return [current.rider.user.username] if current else []


def test_the_urls_are_named() -> None:
    assert (
        reverse("admin:orders_order_dispatch_board"),
        reverse("admin:orders_order_dispatch_board_assign"),
    ) == (BOARD, ASSIGN)


def test_board_lists_packed_orders_longest_waiting_first(client: Client) -> None:
    tenant = TenantFactory()
    newer, older = packed_order(tenant), packed_order(tenant)
    _packed_at(newer, 5)
    _packed_at(older, 40)
    _dispatcher(client, tenant)
    page = _board(client)
    assert page.index(older.code) < page.index(newer.code)


def test_board_shows_how_long_each_order_waits_and_marks_the_late_ones(client: Client) -> None:
    tenant = TenantFactory()
    fresh, late = packed_order(tenant), packed_order(tenant)
    _packed_at(fresh, 5)
    _packed_at(late, 75)
    _dispatcher(client, tenant)
    page = _board(client)
    rows = {
        order.code: page.split(f'data-order="{order.code}"', 1)[1].split("</tr>", 1)[0]
        for order in (fresh, late)
    }
    assert (
        ">5 min<" in rows[fresh.code],
        ">1 h 15 min<" in rows[late.code],
        rows[fresh.code].startswith(">"),
        rows[late.code].startswith(' class="dispatch-board__late">'),
    ) == (True, True, True, True)


def test_board_leaves_out_orders_not_packed_and_other_tenants_orders(client: Client) -> None:
    from tests.factories import OrderFactory

    tenant = TenantFactory()
    received = OrderFactory(tenant=tenant)
    assigned = packed_order(tenant)
    assign_rider(
        order=assigned,
        rider=make_rider(tenant),
        actor=UserFactory(tenant=tenant, roles=[Role.DISPATCHER]),
    )
    theirs = packed_order(TenantFactory())
    _dispatcher(client, tenant)
    page = _board(client)
    assert [code in page for code in (received.code, assigned.code, theirs.code)] == [
        False,
        False,
        False,
    ]


def test_board_shows_no_personal_data(client: Client) -> None:
    tenant = TenantFactory()
    order = packed_order(tenant)
    _dispatcher(client, tenant)
    page = _board(client)
    assert (
        order.code in page,
        order.district in page,
        order.recipient_masked in page,
        order.phone_masked in page,
        order.address_masked in page,
    ) == (True, True, False, False, False)


def test_board_shows_each_riders_load_and_why_the_others_cannot_be_dispatched(
    client: Client,
) -> None:
    tenant = TenantFactory()
    busy = make_rider(tenant, username="rider-busy")
    make_rider(tenant, username="rider-unsigned", signed=False)
    make_rider(tenant, username="rider-home", on_shift=False)
    dispatcher = _dispatcher(client, tenant)
    for _ in range(2):
        assign_rider(order=packed_order(tenant), rider=busy, actor=dispatcher)
    page = _board(client)
    rows = {
        name: page.split(f'data-rider="{name}"', 1)[1].split("</tr>", 1)[0]
        for name in ("rider-busy", "rider-unsigned", "rider-home")
    }
    assert (
        ">2</td>" in rows["rider-busy"],
        "No signature of confidentiality agreement v1" in rows["rider-unsigned"],
        "The rider is not on shift" in rows["rider-home"],
    ) == (True, True, True)


def test_only_eligible_riders_can_be_chosen_for_an_order(client: Client) -> None:
    tenant = TenantFactory()
    order = packed_order(tenant)
    eligible = make_rider(tenant, username="rider-ok")
    unsigned = make_rider(tenant, username="rider-unsigned", signed=False)
    _dispatcher(client, tenant)
    page = _board(client)
    choices = page.split(f'id="rider-{order.pk}"', 1)[1].split("</select>", 1)[0]
    assert (f'value="{eligible.pk}"' in choices, f'value="{unsigned.pk}"' in choices) == (
        True,
        False,
    )


def test_board_without_riders_says_nobody_can_be_dispatched(client: Client) -> None:
    tenant = TenantFactory()
    packed_order(tenant)
    make_rider(tenant, on_shift=False)
    _dispatcher(client, tenant)
    assert "No rider can be dispatched now." in _board(client)


def test_one_click_assigns_and_redirects_back_to_the_board(client: Client) -> None:
    tenant = TenantFactory()
    order, rider = packed_order(tenant), make_rider(tenant, username="rider-li")
    _dispatcher(client, tenant)
    response = client.post(
        ASSIGN, {"order": str(order.pk), "rider": rider.pk}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert (
        response.status_code,
        response["Location"],
        _messages(response),
        refreshed(order).status,
        perm_rows(order),
    ) == (
        302,
        BOARD,
        [f"Order {order.code} assigned to rider-li."],
        Status.ASSIGNED,
        [rider.user_id],
    )


def test_assigned_order_leaves_the_board(client: Client) -> None:
    tenant = TenantFactory()
    order, rider = packed_order(tenant), make_rider(tenant)
    _dispatcher(client, tenant)
    client.post(ASSIGN, {"order": str(order.pk), "rider": rider.pk})
    assert f'data-order="{order.code}"' not in _board(client)


def test_least_loaded_assigns_the_rider_with_fewest_active_orders(client: Client) -> None:
    tenant = TenantFactory()
    busy, idle = make_rider(tenant), make_rider(tenant, username="rider-idle")
    dispatcher = _dispatcher(client, tenant)
    assign_rider(order=packed_order(tenant), rider=busy, actor=dispatcher)
    order = packed_order(tenant)
    response = client.post(ASSIGN, {"order": str(order.pk), "auto": "1"}, HTTP_ACCEPT_LANGUAGE="en")
    assert (_messages(response), _assigned_to(order)) == (
        [f"Order {order.code} assigned to rider-idle."],
        [idle.user.username],
    )


def test_a_replayed_assignment_never_reassigns(client: Client) -> None:
    tenant = TenantFactory()
    order = packed_order(tenant)
    first, second = make_rider(tenant, username="rider-first"), make_rider(tenant)
    _dispatcher(client, tenant)
    client.post(ASSIGN, {"order": str(order.pk), "rider": first.pk}, follow=True)
    again = client.post(
        ASSIGN, {"order": str(order.pk), "rider": second.pk}, HTTP_ACCEPT_LANGUAGE="en"
    )
    with tenant_scope(tenant):
        assigned_events = AuditEvent.objects.filter(action="riders.order_assigned").count()
    assert (again.status_code, _messages(again), _assigned_to(order), assigned_events) == (
        302,
        [f"Order {order.code} was already assigned to rider-first."],
        ["rider-first"],
        1,
    )


def test_a_replayed_least_loaded_assignment_never_reassigns(client: Client) -> None:
    tenant = TenantFactory()
    order = packed_order(tenant)
    make_rider(tenant, username="rider-a")
    make_rider(tenant, username="rider-b")
    _dispatcher(client, tenant)
    client.post(ASSIGN, {"order": str(order.pk), "auto": "1"}, follow=True)
    before = _assigned_to(order)
    again = client.post(ASSIGN, {"order": str(order.pk), "auto": "1"}, HTTP_ACCEPT_LANGUAGE="en")
    assert (_messages(again), _assigned_to(order)) == (
        [f"Order {order.code} was already assigned to {before[0]}."],
        before,
    )


def test_reloading_the_board_after_an_assignment_writes_nothing(client: Client) -> None:
    tenant = TenantFactory()
    order, rider = packed_order(tenant), make_rider(tenant)
    _dispatcher(client, tenant)
    client.post(ASSIGN, {"order": str(order.pk), "rider": rider.pk}, follow=True)
    with tenant_scope(tenant):
        before = AuditEvent.objects.count()
    _board(client)
    _board(client)
    with tenant_scope(tenant):
        after = AuditEvent.objects.count()
    assert after == before


def test_a_rider_who_became_ineligible_is_a_message_not_an_error(client: Client) -> None:
    tenant = TenantFactory()
    order, rider = packed_order(tenant), make_rider(tenant, username="rider-gone")
    with tenant_scope(tenant):
        Rider.objects.filter(pk=rider.pk).update(on_shift=False)
    _dispatcher(client, tenant)
    response = client.post(
        ASSIGN, {"order": str(order.pk), "rider": rider.pk}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert (response.status_code, _messages(response), refreshed(order).status) == (
        302,
        ["rider-gone cannot be dispatched: the rider is not on shift."],
        Status.PACKED,
    )


def test_an_order_cancelled_meanwhile_is_a_message_naming_its_status(client: Client) -> None:
    from orders.lifecycle import transition_order

    tenant = TenantFactory()
    order, rider = packed_order(tenant), make_rider(tenant)
    transition_order(
        order=order,
        to=Status.CANCELLED,
        actor=UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE]),
    )
    _dispatcher(client, tenant)
    response = client.post(
        ASSIGN, {"order": str(order.pk), "rider": rider.pk}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert _messages(response) == ["Only a packed order can be assigned (this one is Cancelled)."]


def test_least_loaded_without_eligible_riders_is_a_message(client: Client) -> None:
    tenant = TenantFactory()
    order = packed_order(tenant)
    make_rider(tenant, on_shift=False)
    _dispatcher(client, tenant)
    response = client.post(ASSIGN, {"order": str(order.pk), "auto": "1"}, HTTP_ACCEPT_LANGUAGE="en")
    assert (response.status_code, _messages(response)) == (
        302,
        ["No rider can be dispatched now (on shift, active, agreement signed, training current)."],
    )


def test_no_rider_chosen_is_a_message(client: Client) -> None:
    tenant = TenantFactory()
    order = packed_order(tenant)
    _dispatcher(client, tenant)
    response = client.post(ASSIGN, {"order": str(order.pk)}, HTTP_ACCEPT_LANGUAGE="en")
    assert (response.status_code, _messages(response)) == (302, ["Choose a rider."])


def test_get_of_the_assign_url_assigns_nothing(client: Client) -> None:
    tenant = TenantFactory()
    order, rider = packed_order(tenant), make_rider(tenant)
    _dispatcher(client, tenant)
    response = client.get(ASSIGN, {"order": str(order.pk), "rider": rider.pk})
    assert (response.status_code, response["Location"], refreshed(order).status) == (
        302,
        BOARD,
        Status.PACKED,
    )


def test_another_tenants_order_is_404(client: Client) -> None:
    tenant = TenantFactory()
    theirs, rider = packed_order(TenantFactory()), make_rider(tenant)
    _dispatcher(client, tenant)
    response = client.post(ASSIGN, {"order": str(theirs.pk), "rider": rider.pk})
    assert (response.status_code, refreshed(theirs).status) == (404, Status.PACKED)


def test_another_tenants_rider_is_404(client: Client) -> None:
    tenant = TenantFactory()
    order, theirs = packed_order(tenant), make_rider(TenantFactory())
    _dispatcher(client, tenant)
    response = client.post(ASSIGN, {"order": str(order.pk), "rider": theirs.pk})
    assert (response.status_code, refreshed(order).status) == (404, Status.PACKED)


@pytest.mark.parametrize("order_id", ["", "not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_a_bad_order_id_is_404(client: Client, order_id: str) -> None:
    tenant = TenantFactory()
    rider = make_rider(tenant)
    _dispatcher(client, tenant)
    assert client.post(ASSIGN, {"order": order_id, "rider": rider.pk}).status_code == 404


@pytest.mark.parametrize("rider_id", ["x", "999999999", "1\x00"])
def test_a_bad_rider_id_is_404(client: Client, rider_id: str) -> None:
    tenant = TenantFactory()
    order = packed_order(tenant)
    _dispatcher(client, tenant)
    response = client.post(ASSIGN, {"order": str(order.pk), "rider": rider_id})
    assert (response.status_code, refreshed(order).status) == (404, Status.PACKED)


def _logged_in(client: Client, tenant: Tenant, role: Role) -> User:
    user = UserFactory(tenant=tenant, roles=[role])
    client.force_login(user)
    if role in ROLES_NEEDING_TWO_FACTOR:
        verified_second_factor(client, user)
    return user


STAFF_ROLES = [role for role in Role if role not in (Role.DISPATCHER, Role.RIDER)]


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_the_board_is_for_dispatchers_only(client: Client, role: Role) -> None:
    tenant = TenantFactory()
    packed_order(tenant)
    _logged_in(client, tenant, role)
    assert client.get(BOARD).status_code == 403


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_only_dispatchers_assign_from_the_board(client: Client, role: Role) -> None:
    tenant = TenantFactory()
    order, rider = packed_order(tenant), make_rider(tenant)
    _logged_in(client, tenant, role)
    response = client.post(ASSIGN, {"order": str(order.pk), "rider": rider.pk})
    assert (response.status_code, refreshed(order).status) == (403, Status.PACKED)


def test_a_rider_is_sent_to_log_in_instead_of_the_board(client: Client) -> None:
    tenant = TenantFactory()
    rider = make_rider(tenant)
    client.force_login(rider.user)
    response = client.get(BOARD)
    assert (response.status_code, response["Location"].startswith("/admin/login/")) == (
        302,
        True,
    )


def test_anonymous_visitors_are_sent_to_log_in(client: Client) -> None:
    response = client.get(BOARD)
    assert (response.status_code, response["Location"]) == (
        302,
        f"/admin/login/?next={BOARD}",
    )


def test_the_dispatcher_lands_on_the_board_at_admin(client: Client) -> None:
    _dispatcher(client, TenantFactory())
    response = client.get("/admin/")
    assert (response.status_code, response["Location"]) == (302, BOARD)


def test_the_board_is_in_the_dispatchers_sidebar(client: Client) -> None:
    _dispatcher(client, TenantFactory())
    page = _board(client)
    assert (f'href="{BOARD}"' in page, "Dispatch board" in page) == (True, True)


@pytest.mark.parametrize("role", [Role.KITCHEN, Role.PACKER])
def test_the_stations_still_land_on_their_pages(client: Client, role: Role) -> None:
    _logged_in(client, TenantFactory(), role)
    response = client.get("/admin/")
    assert (response.status_code, response["Location"]) == (
        302,
        reverse("orders:kitchen" if role == Role.KITCHEN else "orders:packing"),
    )


def test_a_tenant_admin_lands_on_the_users(client: Client) -> None:
    _logged_in(client, TenantFactory(), Role.TENANT_ADMIN)
    response = client.get("/admin/")
    assert (response.status_code, response["Location"]) == (
        302,
        reverse("admin:tenants_user_changelist"),
    )


def test_the_board_takes_as_many_queries_for_many_orders_and_riders_as_for_one(
    client: Client, django_assert_max_num_queries
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    small = TenantFactory()
    packed_order(small)
    make_rider(small)
    _dispatcher(client, small)
    _board(client)  # the session's first page view writes what later ones only read
    with CaptureQueriesContext(connection) as captured:
        _board(client)
    few = len(captured)
    large = TenantFactory()
    for index in range(8):
        packed_order(large)
        make_rider(large, signed=index % 2 == 0, on_shift=index % 3 != 0)
    client.force_login(UserFactory(tenant=large, roles=[Role.DISPATCHER]))
    _board(client)
    with django_assert_max_num_queries(few):
        _board(client)


def test_on_the_board_only_the_board_is_active_in_the_sidebar() -> None:
    from django.contrib import admin
    from django.test import RequestFactory
    from django.utils import translation

    request = RequestFactory().get(BOARD)
    request.user = UserFactory(roles=[Role.DISPATCHER])
    with tenant_scope(request.user.tenant), translation.override("en"):
        groups = admin.site.get_sidebar_list(request)
        active = [
            str(item["title"]) for group in groups for item in group["items"] if item["active"]
        ]
    assert active == ["Dispatch board"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_two_dispatchers_assigning_one_order_at_once_never_reassign_it() -> None:
    import threading

    from django.db import connections

    from core.errors import Conflict

    tenant = TenantFactory()
    order = packed_order(tenant)
    riders = [make_rider(tenant), make_rider(tenant)]
    dispatchers = [UserFactory(tenant=tenant, roles=[Role.DISPATCHER]) for _ in riders]
    barrier, outcomes = threading.Barrier(2), []

    def attempt(index: int) -> None:
        try:
            barrier.wait()
            assign_rider(order=order, rider=riders[index], actor=dispatchers[index], reassign=False)
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with tenant_scope(tenant):
        events = list(
            AuditEvent.objects.filter(
                action__in=["riders.order_assigned", "riders.order_unassigned"]
            ).values_list("action", flat=True)
        )
    assert (sorted(outcomes), events, len(perm_rows(order))) == (
        ["conflict", "ok"],
        ["riders.order_assigned"],
        1,
    )
