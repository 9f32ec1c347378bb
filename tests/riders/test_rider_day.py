"""Issue 17, point 7: the rider's day — the delivery note after pickup (one audited reveal
with the address), the seal typed and never shown, a delivered page after the handover, the
old link of a finished order, and today's finished deliveries."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from orders.lifecycle import transition_order
from orders.models import Order, Status
from riders.delivery import confirm_pickup, hand_over_with_pin, issue_handover_code
from riders.dispatch import assign_rider
from riders.models import Assignment, Rider
from tenants.models import Role, Tenant
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, TenantFactory, UserFactory
from tests.riders.conftest import Delivery, make_rider, refreshed

pytestmark = pytest.mark.django_db(databases="__all__")

NOTE = "放门口"  # tests.factories.OrderFactory's delivery note
ADDRESS = "上海市浦东新区张江路88号7栋1201室"
SEAL = "SEAL-4242"
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def rider_client(client: Client, delivery: Delivery) -> Client:
    client.force_login(delivery.rider.user)
    return client


def _url(name: str, order: Order) -> str:
    return reverse(f"riders:{name}", args=[order.pk])


def _events(tenant: Tenant, action: str) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


def _event_count(tenant: Tenant) -> int:
    with tenant_scope(tenant):
        return AuditEvent.objects.count()


def _pick_up(order: Order, rider: Rider) -> None:
    confirm_pickup(order=order, user=rider.user, code=order.code, seal_number=SEAL)


def _packed(tenant: Tenant, **order: Any) -> Order:
    packed = OrderFactory(tenant=tenant, **order)
    transition_order(
        order=packed, to=Status.PREPARING, actor=UserFactory(tenant=tenant, roles=[Role.KITCHEN])
    )
    transition_order(
        order=packed,
        to=Status.PACKED,
        actor=UserFactory(tenant=tenant, roles=[Role.PACKER]),
        seal_number=SEAL,
    )
    return packed


def _delivered(delivery: Delivery, **order: Any) -> Order:
    """Another order of the fixture's rider, delivered with the PIN."""
    done = _packed(delivery.tenant, **order)
    assign_rider(order=done, rider=delivery.rider, actor=delivery.dispatcher)
    _pick_up(done, delivery.rider)
    assert hand_over_with_pin(order=done, user=delivery.rider.user, pin=done.delivery_pin)[0]
    return done


def _ended_at(order: Order, when: datetime) -> None:
    with tenant_scope(order.tenant):
        Assignment.objects.filter(order=order).update(ended_at=when)


def _no_personal_data(html: str, order: Order) -> list[str]:
    shown = [
        "欧阳娜娜",
        "13912345678",
        ADDRESS,
        NOTE,
        "宫保鸡丁",
        order.recipient_masked,
        order.phone_masked,
        order.address_masked,
        SEAL,
    ]
    return [value for value in shown if value in html]


# --- the delivery note ------------------------------------------------------------------------


def test_before_pickup_neither_the_address_nor_the_note_is_shown_or_revealed(
    rider_client: Client, delivery: Delivery
) -> None:
    html = rider_client.get(_url("order", delivery.order)).content.decode()
    assert (
        NOTE in html,
        ADDRESS in html,
        'id="delivery-note"' in html,
        _events(delivery.tenant, "privacy.reveal"),
        _events(delivery.tenant, "privacy.reveal_denied"),
    ) == (False, False, False, [], [])


@pytest.mark.parametrize("held", [False, True])
def test_after_pickup_the_note_comes_with_the_address_in_one_reveal(
    rider_client: Client, delivery: Delivery, held: bool
) -> None:
    _pick_up(delivery.order, delivery.rider)
    if held:
        rider_client.post(_url("hold", delivery.order), {"location": "parcel_locker"})
    html = rider_client.get(_url("order", delivery.order)).content.decode()
    events = [(e.fields, e.purpose) for e in _events(delivery.tenant, "privacy.reveal")]
    assert (
        refreshed(delivery.order).status,
        f'<dd id="delivery-note" class="note">{NOTE}</dd>' in html,
        ADDRESS in html,
        events,
    ) == (
        Status.HELD if held else Status.PICKED_UP,
        True,
        True,
        [(["address", "note"], "delivery")],
    )


def test_an_order_without_a_note_shows_the_address_and_no_note_row(
    client: Client, delivery: Delivery
) -> None:
    order = _packed(delivery.tenant, note="")
    assign_rider(order=order, rider=delivery.rider, actor=delivery.dispatcher)
    _pick_up(order, delivery.rider)
    client.force_login(delivery.rider.user)
    html = client.get(_url("order", order)).content.decode()
    assert (ADDRESS in html, 'id="delivery-note"' in html) == (True, False)


def test_another_rider_never_gets_the_note(client: Client, delivery: Delivery) -> None:
    _pick_up(delivery.order, delivery.rider)
    client.force_login(make_rider(delivery.tenant).user)
    response = client.get(_url("order", delivery.order))
    assert (response.status_code, _events(delivery.tenant, "privacy.reveal")) == (404, [])


# --- the seal ---------------------------------------------------------------------------------


def test_the_seal_number_is_typed_never_shown(rider_client: Client, delivery: Delivery) -> None:
    order_page = rider_client.get(_url("order", delivery.order)).content.decode()
    home = rider_client.get(reverse("riders:home")).content.decode()
    assert (SEAL in order_page, SEAL in home, 'name="seal_number"' in order_page) == (
        False,
        False,
        True,
    )


def test_a_mistyped_seal_is_still_refused(rider_client: Client, delivery: Delivery) -> None:
    response = rider_client.post(
        _url("pickup", delivery.order),
        {"code": delivery.order.code, "seal_number": "SEAL-4243"},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )
    html = response.content.decode()
    assert (refreshed(delivery.order).status, "does not match" in html, SEAL in html) == (
        Status.ASSIGNED,
        True,
        False,
    )


# --- the delivered page -----------------------------------------------------------------------


def test_the_handover_redirects_to_a_delivered_page(
    rider_client: Client, delivery: Delivery
) -> None:
    _pick_up(delivery.order, delivery.rider)
    posted = rider_client.post(
        _url("handover", delivery.order), {"pin": delivery.order.delivery_pin}
    )
    _ended_at(delivery.order, datetime(2026, 1, 2, 2, 5, tzinfo=UTC))
    events = _event_count(delivery.tenant)
    page = rider_client.get(posted["Location"], HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert (
        posted.status_code,
        posted["Location"],
        page.status_code,
        page["Cache-Control"],
        "Delivered. Thank you!" in html,
        delivery.order.code in html,
        "2026-01-02 10:05" in html,  # Asia/Shanghai, the tenant's time zone
        f'href="{reverse("riders:home")}"' in html,
        _no_personal_data(html, delivery.order),
        _event_count(delivery.tenant) - events,  # a reload only reads
    ) == (
        302,
        _url("delivered", delivery.order),
        200,
        "no-store",
        True,
        True,
        True,
        True,
        [],
        0,
    )


def test_the_delivered_page_speaks_chinese(rider_client: Client, delivery: Delivery) -> None:
    _pick_up(delivery.order, delivery.rider)
    rider_client.post(_url("handover", delivery.order), {"pin": delivery.order.delivery_pin})
    html = rider_client.get(
        _url("delivered", delivery.order), HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).content.decode()
    assert ('lang="zh-hans"' in html, "已送达，谢谢！" in html) == (True, True)


def test_a_handover_code_also_ends_on_the_delivered_page(
    rider_client: Client, delivery: Delivery
) -> None:
    _pick_up(delivery.order, delivery.rider)
    agent = UserFactory(tenant=delivery.tenant, roles=[Role.CUSTOMER_SERVICE])
    code = issue_handover_code(order=delivery.order, actor=agent, reason="verified on relay call")
    posted = rider_client.post(_url("handover", delivery.order), {"handover_code": code})
    assert (posted.status_code, posted["Location"]) == (302, _url("delivered", delivery.order))


def test_a_second_handover_post_lands_on_the_delivered_page(
    rider_client: Client, delivery: Delivery
) -> None:
    _pick_up(delivery.order, delivery.rider)
    pin = {"pin": delivery.order.delivery_pin}
    rider_client.post(_url("handover", delivery.order), pin)
    events = _event_count(delivery.tenant)
    again = rider_client.post(_url("handover", delivery.order), pin)
    assert (again.status_code, again["Location"], _event_count(delivery.tenant)) == (
        302,
        _url("delivered", delivery.order),
        events,
    )


def test_a_wrong_pin_stays_on_the_order(rider_client: Client, delivery: Delivery) -> None:
    _pick_up(delivery.order, delivery.rider)
    wrong = "000000" if delivery.order.delivery_pin != "000000" else "111111"
    posted = rider_client.post(_url("handover", delivery.order), {"pin": wrong})
    delivered = rider_client.get(_url("delivered", delivery.order))
    assert (posted["Location"], delivered.status_code) == (_url("order", delivery.order), 404)


def test_the_old_link_of_a_finished_order_says_it_is_finished(
    rider_client: Client, delivery: Delivery
) -> None:
    _pick_up(delivery.order, delivery.rider)
    rider_client.post(_url("handover", delivery.order), {"pin": delivery.order.delivery_pin})
    events = _event_count(delivery.tenant)
    page = rider_client.get(_url("order", delivery.order), HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert (
        page.status_code,
        "This order is finished" in html,
        delivery.order.code in html,
        'data-outcome="delivered"' in html,
        'action="' in html.split("<main>")[1],  # no step form for a finished order
        _no_personal_data(html, delivery.order),
        _event_count(delivery.tenant) - events,
    ) == (200, True, True, True, False, [], 0)


def test_an_order_cancelled_before_pickup_says_so_on_its_old_link(
    rider_client: Client, delivery: Delivery
) -> None:
    agent = UserFactory(tenant=delivery.tenant, roles=[Role.CUSTOMER_SERVICE])
    transition_order(order=delivery.order, to=Status.CANCELLED, actor=agent)
    page = rider_client.get(_url("order", delivery.order), HTTP_ACCEPT_LANGUAGE="en")
    delivered = rider_client.get(_url("delivered", delivery.order), HTTP_ACCEPT_LANGUAGE="en")
    home = rider_client.get(reverse("riders:home")).content.decode()
    assert (
        page.status_code,
        'data-outcome="cancelled"' in page.content.decode(),
        "Delivered. Thank you!" in delivered.content.decode(),
        f'data-finished="{delivery.order.code}"' in home,  # not one of today's deliveries
    ) == (200, True, False, False)


def test_a_failed_delivery_is_one_of_todays_finished_but_not_delivered(
    rider_client: Client, delivery: Delivery
) -> None:
    _pick_up(delivery.order, delivery.rider)
    agent = UserFactory(tenant=delivery.tenant, roles=[Role.CUSTOMER_SERVICE])
    transition_order(order=delivery.order, to=Status.FAILED, actor=agent)
    page = rider_client.get(_url("delivered", delivery.order), HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    home = rider_client.get(reverse("riders:home")).content.decode()
    assert (
        page.status_code,
        "This order is finished" in html,
        "Delivered. Thank you!" in html,
        'data-outcome="failed"' in html,
        _finished_codes(home),
    ) == (200, True, False, True, [delivery.order.code])


@pytest.mark.parametrize("page", ["order", "delivered"])
def test_another_riders_finished_order_is_still_404(
    client: Client, delivery: Delivery, page: str
) -> None:
    _pick_up(delivery.order, delivery.rider)
    hand_over_with_pin(
        order=delivery.order, user=delivery.rider.user, pin=delivery.order.delivery_pin
    )
    client.force_login(make_rider(delivery.tenant).user)
    assert client.get(_url(page, delivery.order)).status_code == 404


@pytest.mark.parametrize("page", ["order", "delivered"])
def test_another_tenants_rider_gets_404_for_a_finished_order(
    client: Client, delivery: Delivery, page: str
) -> None:
    _pick_up(delivery.order, delivery.rider)
    hand_over_with_pin(
        order=delivery.order, user=delivery.rider.user, pin=delivery.order.delivery_pin
    )
    client.force_login(make_rider(TenantFactory()).user)
    assert client.get(_url(page, delivery.order)).status_code == 404


def test_a_rider_whose_order_was_reassigned_gets_404_after_the_delivery(
    client: Client, delivery: Delivery
) -> None:
    second = make_rider(delivery.tenant)
    assign_rider(order=delivery.order, rider=second, actor=delivery.dispatcher)
    _pick_up(delivery.order, second)
    hand_over_with_pin(order=delivery.order, user=second.user, pin=delivery.order.delivery_pin)
    client.force_login(delivery.rider.user)
    assert [client.get(_url(p, delivery.order)).status_code for p in ("order", "delivered")] == [
        404,
        404,
    ]


def test_the_delivered_page_of_an_open_order_is_404(
    rider_client: Client, delivery: Delivery
) -> None:
    assert rider_client.get(_url("delivered", delivery.order)).status_code == 404


def test_the_delivered_page_is_for_riders(client: Client, delivery: Delivery) -> None:
    _pick_up(delivery.order, delivery.rider)
    hand_over_with_pin(
        order=delivery.order, user=delivery.rider.user, pin=delivery.order.delivery_pin
    )
    client.force_login(UserFactory(tenant=delivery.tenant, roles=[Role.DISPATCHER]))
    staff = client.get(_url("delivered", delivery.order)).status_code
    client.logout()
    anonymous = client.get(_url("delivered", delivery.order))
    assert (staff, anonymous.status_code, anonymous["Location"].split("?")[0]) == (
        403,
        302,
        reverse("riders:login"),
    )


# --- today's finished deliveries --------------------------------------------------------------


def _today_start() -> datetime:
    return datetime.combine(timezone.localdate(timezone.now(), SHANGHAI), time.min, SHANGHAI)


def _finished_codes(html: str) -> list[str]:
    return [part.split('"', 1)[0] for part in html.split('data-finished="')[1:]]


def test_home_lists_todays_finished_deliveries_newest_first_in_the_tenants_time_zone(
    rider_client: Client, delivery: Delivery
) -> None:
    early, late, yesterday = (_delivered(delivery) for _ in range(3))
    start = _today_start()
    _ended_at(early, start + timedelta(minutes=10))
    _ended_at(late, start + timedelta(minutes=30))
    _ended_at(yesterday, start - timedelta(minutes=10))
    theirs = _packed(delivery.tenant)
    other = make_rider(delivery.tenant)
    assign_rider(order=theirs, rider=other, actor=delivery.dispatcher)
    _pick_up(theirs, other)
    hand_over_with_pin(order=theirs, user=other.user, pin=theirs.delivery_pin)
    html = rider_client.get(reverse("riders:home"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert (
        _finished_codes(html),
        "00:30" in html,  # Shanghai time: midnight-thirty, not 16:30 UTC
        f'data-order="{delivery.order.code}"' in html,  # the open order is still listed
        _no_personal_data(html.split('id="finished-today"')[1], early),
    ) == ([late.code, early.code], True, True, [])


def test_home_without_finished_deliveries_says_so(rider_client: Client, delivery: Delivery) -> None:
    html = rider_client.get(reverse("riders:home"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert (_finished_codes(html), "No deliveries finished today yet." in html) == ([], True)


def _home_queries(client: Client) -> int:
    with CaptureQueriesContext(connections["default"]) as queries:
        assert client.get(reverse("riders:home")).status_code == 200
    return len(queries)


def test_todays_deliveries_cost_the_same_queries_for_one_or_ten(
    rider_client: Client, delivery: Delivery, django_assert_max_num_queries: Any
) -> None:
    _delivered(delivery)
    one = _home_queries(rider_client)
    for _ in range(9):
        _delivered(delivery)
    with django_assert_max_num_queries(13):
        ten = _home_queries(rider_client)
    html = rider_client.get(reverse("riders:home")).content.decode()
    assert (ten, len(_finished_codes(html))) == (one, 10)
