"""The kitchen board: three columns by status (received, preparing, food ready) with their
counts, one audited reveal per view that names only the orders whose items it shows, a
refresh script under the Content-Security-Policy, and POST→redirect→GET for every action."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse

from audits.models import AuditEvent
from orders import views
from orders.lifecycle import mark_food_ready, transition_order
from orders.models import Order, Status
from privacy.erasure import erase_subject
from privacy.models import ErasureReason
from tenants.actors import SystemActor
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, TenantFactory, UserFactory
from tests.security.test_headers import EVENT_HANDLER, INLINE_SCRIPT, INLINE_STYLE, OTHER_ORIGIN

pytestmark = pytest.mark.django_db(databases="__all__")


class _Board(HTMLParser):
    """The order codes (``data-order``) and the count (``data-count``) of each column."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.columns: dict[str, list[str]] = {}
        self.counts: dict[str, int] = {}
        self._column = ""
        self._in_count = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if "data-column" in found:
            self._column = found["data-column"] or ""
            self.columns[self._column] = []
        if "data-order" in found:
            self.columns[self._column].append(found["data-order"] or "")
        self._in_count = "data-count" in found

    def handle_data(self, data: str) -> None:
        if self._in_count and data.strip():
            self.counts[self._column] = int(data)
            self._in_count = False


def _cook(tenant: Tenant, *roles: Role) -> User:
    return UserFactory(tenant=tenant, roles=[Role.KITCHEN, *roles])


def _preparing(tenant: Tenant, cook: User) -> Order:
    order = OrderFactory(tenant=tenant)
    transition_order(order=order, to=Status.PREPARING, actor=cook)
    return order


def _ready(tenant: Tenant, cook: User) -> Order:
    order = _preparing(tenant, cook)
    mark_food_ready(order=order, actor=cook)
    return order


def _board(client: Client) -> _Board:
    response = client.get(reverse("orders:kitchen"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    return _Board(response.content.decode())


def _events(tenant: Tenant, action: str) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(action=action).order_by("pk"))


@pytest.fixture
def kitchen() -> dict[str, Any]:
    """A tenant with two received orders, one preparing, one food-ready and one packed."""
    tenant = TenantFactory()
    cook = _cook(tenant)
    first, second = OrderFactory(tenant=tenant), OrderFactory(tenant=tenant)
    preparing = _preparing(tenant, cook)
    ready = _ready(tenant, cook)
    packed = _ready(tenant, cook)
    transition_order(
        order=packed,
        to=Status.PACKED,
        actor=UserFactory(tenant=tenant, roles=[Role.PACKER]),
        seal_number="SEAL-1234",
    )
    return {
        "tenant": tenant,
        "cook": cook,
        "received": [first, second],
        "preparing": preparing,
        "ready": ready,
        "packed": packed,
    }


def test_the_board_shows_each_order_in_the_column_of_its_status(
    client: Client, kitchen: dict[str, Any]
) -> None:
    client.force_login(kitchen["cook"])
    assert _board(client).columns == {
        "received": [order.code for order in kitchen["received"]],
        "preparing": [kitchen["preparing"].code],
        "ready": [kitchen["ready"].code],
    }


def test_each_column_shows_its_count(client: Client, kitchen: dict[str, Any]) -> None:
    client.force_login(kitchen["cook"])
    assert _board(client).counts == {"received": 2, "preparing": 1, "ready": 1}


def test_a_full_column_shows_its_oldest_orders_and_counts_them_all(
    client: Client, kitchen: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "BOARD_COLUMN_SIZE", 1)
    client.force_login(kitchen["cook"])
    html = client.get(reverse("orders:kitchen"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    board = _Board(html)
    assert (board.columns["received"], board.counts["received"], "and 1 more" in html) == (
        [kitchen["received"][0].code],
        2,
        True,
    )


def test_a_board_view_writes_one_reveal_event_naming_the_orders_whose_items_it_shows(
    client: Client, kitchen: dict[str, Any]
) -> None:
    client.force_login(kitchen["cook"])
    client.get(reverse("orders:kitchen"))
    events = _events(kitchen["tenant"], "privacy.reveal_batch")
    shown = [*kitchen["received"], kitchen["preparing"]]
    assert [(sorted(e.details["objects"]), e.details["count"], e.fields) for e in events] == [
        (sorted(str(order.pk) for order in shown), 3, ["items", "note"])
    ]


def test_each_refresh_of_the_board_writes_one_reveal_event(
    client: Client, kitchen: dict[str, Any]
) -> None:
    client.force_login(kitchen["cook"])
    for _ in range(3):
        client.get(reverse("orders:kitchen"))
    assert len(_events(kitchen["tenant"], "privacy.reveal_batch")) == 3


def test_the_board_reveals_no_more_orders_than_it_shows(
    client: Client, kitchen: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "BOARD_COLUMN_SIZE", 1)
    client.force_login(kitchen["cook"])
    client.get(reverse("orders:kitchen"))
    (event,) = _events(kitchen["tenant"], "privacy.reveal_batch")
    assert sorted(event.details["objects"]) == sorted(
        str(order.pk) for order in (kitchen["received"][0], kitchen["preparing"])
    )


def test_the_ready_column_shows_codes_and_times_only_and_reveals_nothing(client: Client) -> None:
    tenant = TenantFactory()
    cook = _cook(tenant)
    ready = _ready(tenant, cook)
    client.force_login(cook)
    html = client.get(reverse("orders:kitchen")).content.decode()
    assert (
        ready.code in html,
        "宫保鸡丁" in html,
        "放门口" in html,
        _events(tenant, "privacy.reveal_batch"),
    ) == (True, False, False, [])


def test_items_and_notes_are_shown_escaped(client: Client) -> None:
    order = OrderFactory(items=[{"name": "<b>饺子</b>", "quantity": 3}], note="<i>不要辣</i>")
    client.force_login(_cook(order.tenant))
    html = client.get(reverse("orders:kitchen")).content.decode()
    assert (
        "&lt;b&gt;饺子&lt;/b&gt;" in html,
        "&lt;i&gt;不要辣&lt;/i&gt;" in html,
        "<b>饺子" in html,
    ) == (True, True, False)


def test_an_erased_customers_order_stays_off_the_board(client: Client) -> None:

    erased = OrderFactory()
    kept = OrderFactory(
        tenant=erased.tenant,
        customer={"name": "王五", "phone": "13800001111", "address": "北京市朝阳区A路1号"},
    )
    erase_subject(
        tenant=erased.tenant,
        subject_id=erased.subject_id,
        reason=ErasureReason.STAFF_REQUEST,
        actor=SystemActor("tests"),
    )
    client.force_login(_cook(erased.tenant))
    assert _board(client).columns["received"] == [kept.code]


# --- refreshing itself under the Content-Security-Policy ---------------------------------


def test_the_board_loads_its_refresh_script_from_a_static_file(
    client: Client, kitchen: dict[str, Any]
) -> None:
    client.force_login(kitchen["cook"])
    html = client.get(reverse("orders:kitchen")).content.decode()
    assert (
        '<script src="/static/baomi/board-refresh.js" defer></script>' in html,
        'data-refresh-seconds="25"' in html,
        finders.find("baomi/board-refresh.js") is not None,
    ) == (True, True, True)


def test_without_javascript_the_board_still_refreshes_every_minute(
    client: Client, kitchen: dict[str, Any]
) -> None:
    client.force_login(kitchen["cook"])
    html = client.get(reverse("orders:kitchen")).content.decode()
    assert '<noscript><meta http-equiv="refresh" content="60"></noscript>' in html


def test_the_refresh_script_waits_for_forms_fields_and_hidden_tabs() -> None:
    script = Path(finders.find("baomi/board-refresh.js")).read_text()
    assert (
        'addEventListener("submit"' in script,
        "document.hidden" in script,
        "fieldInUse()" in script,
        "eval(" in script,
        "innerHTML" in script,
    ) == (True, True, True, False, False)


def test_the_board_says_when_it_was_updated(client: Client, kitchen: dict[str, Any]) -> None:
    client.force_login(kitchen["cook"])
    html = client.get(reverse("orders:kitchen"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert _updated(html) is not None


def _updated(html: str) -> str | None:
    found = re.search(r'id="board-updated"[^>]*>Updated <time>(\d\d:\d\d:\d\d)</time>', html)
    return found.group(1) if found else None


@pytest.mark.parametrize("url", ["orders:kitchen", "orders:packing"])
def test_a_full_station_page_holds_no_inline_code(
    client: Client, kitchen: dict[str, Any], url: str
) -> None:
    role = Role.KITCHEN if url == "orders:kitchen" else Role.PACKER
    client.force_login(UserFactory(tenant=kitchen["tenant"], roles=[role]))
    response = client.get(reverse(url))
    html = response.content.decode()
    found = [
        p.pattern[:20]
        for p in (INLINE_SCRIPT, INLINE_STYLE, EVENT_HANDLER, OTHER_ORIGIN)
        if p.search(html)
    ]
    assert (found, "'unsafe-inline'" in response["Content-Security-Policy"]) == ([], False)


# --- POST → redirect → GET --------------------------------------------------------------


def test_starting_an_order_redirects_to_the_board_where_it_is_preparing(
    client: Client, kitchen: dict[str, Any]
) -> None:
    order = kitchen["received"][0]
    client.force_login(kitchen["cook"])
    response = client.post(reverse("orders:kitchen-start", args=[order.pk]))
    board = _board(client)
    assert (response.status_code, response["Location"], board.columns["preparing"]) == (
        302,
        reverse("orders:kitchen"),
        [order.code, kitchen["preparing"].code],
    )


def test_marking_food_ready_redirects_to_the_board_where_it_is_ready(
    client: Client, kitchen: dict[str, Any]
) -> None:
    order = kitchen["preparing"]
    client.force_login(kitchen["cook"])
    response = client.post(reverse("orders:kitchen-ready", args=[order.pk]))
    board = _board(client)
    assert (response.status_code, response["Location"], board.columns) == (
        302,
        reverse("orders:kitchen"),
        {
            "received": [o.code for o in kitchen["received"]],
            "preparing": [],
            "ready": [kitchen["ready"].code, order.code],
        },
    )


def test_reloading_the_board_after_a_start_repeats_nothing(
    client: Client, kitchen: dict[str, Any]
) -> None:
    order = kitchen["received"][0]
    client.force_login(kitchen["cook"])
    client.post(reverse("orders:kitchen-start", args=[order.pk]), follow=True)
    before = len(_events(kitchen["tenant"], "order.transition"))
    client.get(reverse("orders:kitchen"))
    client.get(reverse("orders:kitchen"))
    assert len(_events(kitchen["tenant"], "order.transition")) == before


def test_starting_an_order_twice_says_why_and_changes_nothing(
    client: Client, kitchen: dict[str, Any]
) -> None:
    order = kitchen["preparing"]
    client.force_login(kitchen["cook"])
    response = client.post(
        reverse("orders:kitchen-start", args=[order.pk]), follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )
    html = response.content.decode()
    assert (response.status_code, 'class="error"' in html, _Board(html).columns["preparing"]) == (
        200,
        True,
        [order.code],
    )


def test_the_board_answers_get_only_for_its_actions(
    client: Client, kitchen: dict[str, Any]
) -> None:
    client.force_login(kitchen["cook"])
    url = reverse("orders:kitchen-start", args=[kitchen["received"][0].pk])
    assert client.get(url).status_code == 405


# --- the way back to the back office -------------------------------------------------------


def test_a_kitchen_only_user_sees_no_back_office_link(
    client: Client, kitchen: dict[str, Any]
) -> None:
    client.force_login(kitchen["cook"])
    html = client.get(reverse("orders:kitchen")).content.decode()
    assert 'class="back-office"' not in html


@pytest.mark.parametrize("url", ["orders:kitchen", "orders:packing"])
def test_a_station_links_back_to_the_back_office_for_a_user_who_has_work_there(
    client: Client, url: str
) -> None:
    tenant = TenantFactory()
    client.force_login(
        UserFactory(tenant=tenant, roles=[Role.KITCHEN, Role.PACKER, Role.CUSTOMER_SERVICE])
    )
    html = client.get(reverse(url)).content.decode()
    assert f'<a class="back-office" href="{reverse("admin:index")}">' in html
