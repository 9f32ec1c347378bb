"""The kitchen page, the packing page and the privacy label show only what their role needs."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse
from PIL import Image

from orders.lifecycle import transition_order
from orders.models import Order, Status
from privacy.permissions import Purpose
from privacy.reveal import reveal
from tenants.management.commands.seed_demo import Command as SeedDemo
from tenants.models import Role, Tenant
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, UserFactory
from tests.training.conftest import cleared_staff

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def seeded(settings: Any, tmp_path: Any) -> Tenant:
    settings.VAR_DIR = tmp_path
    SeedDemo().handle()
    return Tenant.objects.get(slug="demo")


def _clear(order: Order) -> dict[str, str]:
    # A privacy officer of the demo tenant, trained and pledged (the reveal gate, issue 19).
    officer = cleared_staff(order.tenant, Role.PRIVACY_OFFICER)
    return reveal(
        order,
        fields=["name", "phone", "address", "items"],
        actor=officer,
        purpose=Purpose.INCIDENT_INVESTIGATION,
    )


def _packed(tenant: Tenant) -> Order:
    with tenant_scope(tenant):
        return Order.objects.filter(status=Status.PACKED).first()


def test_demo_seeds_dozens_of_orders_in_various_states(seeded: Tenant) -> None:
    with tenant_scope(seeded):
        statuses = set(Order.objects.values_list("status", flat=True))
        count = Order.objects.count()
    assert (count >= 24, statuses) == (
        True,
        {
            "received",
            "preparing",
            "packed",
            "cancelled",
            "assigned",
            "picked_up",
            "held",
            "delivered",
        },
    )


def test_the_demo_rider_can_be_dispatched_out_of_the_box(seeded: Tenant) -> None:
    from riders.selectors import eligible_riders

    assert [rider.user.username for rider in eligible_riders(seeded)] == ["demo-rider"]


def test_label_of_a_seeded_order_has_no_full_name_phone_or_items(
    client: Client, seeded: Tenant
) -> None:
    order = _packed(seeded)
    clear = _clear(order)
    client.force_login(UserFactory(tenant=seeded, roles=[Role.PACKER]))
    html = client.get(reverse("orders:label", args=[order.pk])).content.decode()
    item_names = re.findall(r'"name": "([^"]+)"', clear["items"])
    leaked = [
        v for v in [clear["name"], clear["phone"], clear["address"], *item_names] if v in html
    ]
    assert (leaked, order.code in html, order.recipient_masked in html, order.district in html) == (
        [],
        True,
        True,
        True,
    )


def test_label_qr_code_decodes_to_the_order_code(client: Client, seeded: Tenant) -> None:
    order = _packed(seeded)
    client.force_login(UserFactory(tenant=seeded, roles=[Role.PACKER]))
    html = client.get(reverse("orders:label", args=[order.pk])).content.decode()
    data = re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1)
    image = Image.open(io.BytesIO(base64.b64decode(data))).convert("L")
    assert [result.text for result in zxingcpp.read_barcodes(image)] == [order.code]


def test_label_prints_on_a_label_sized_page(client: Client, seeded: Tenant) -> None:
    client.force_login(UserFactory(tenant=seeded, roles=[Role.DISPATCHER]))
    html = client.get(reverse("orders:label", args=[_packed(seeded).pk])).content.decode()
    # The label's CSS is a static file (the Content-Security-Policy allows no inline style).
    stylesheet = Path(finders.find("baomi/label.css")).read_text()
    assert ('href="/static/baomi/label.css"' in html, "@page { size: 62mm 40mm" in stylesheet) == (
        True,
        True,
    )


def test_kitchen_page_shows_items_and_notes_but_no_customer_data(
    client: Client, seeded: Tenant
) -> None:
    cook = UserFactory(tenant=seeded, roles=[Role.KITCHEN])
    client.force_login(cook)
    html = client.get(reverse("orders:kitchen")).content.decode()
    with tenant_scope(seeded):
        shown = list(Order.objects.filter(status__in=[Status.RECEIVED, Status.PREPARING]))
    clears = [_clear(order) for order in shown]
    leaked = [v for c in clears for v in (c["name"], c["phone"], c["address"]) if v in html]
    masks = [o.recipient_masked for o in shown if o.recipient_masked in html]
    # The ready column shows codes and times only; the others show their items.
    cooking = next(c for o, c in zip(shown, clears, strict=True) if o.kitchen_ready_at is None)
    first_item = re.search(r'"name": "([^"]+)"', cooking["items"]).group(1)
    assert (leaked, masks, first_item in html, len(shown) > 0) == ([], [], True, True)


def test_kitchen_page_records_each_order_it_shows(client: Client) -> None:
    order = OrderFactory()
    client.force_login(UserFactory(tenant=order.tenant, roles=[Role.KITCHEN]))
    client.get(reverse("orders:kitchen"))
    from audits.models import AuditEvent

    with tenant_scope(order.tenant):
        event = AuditEvent.objects.filter(action="privacy.reveal_batch").get()
    assert (event.object_type, event.details, event.fields, event.purpose) == (
        "orders.order",
        {"objects": [str(order.pk)], "count": 1},
        ["items", "note"],
        "food_preparation",
    )


@pytest.mark.parametrize("role", [r for r in Role if r != Role.KITCHEN])
def test_kitchen_page_is_for_the_kitchen_only(client: Client, role: Role) -> None:
    client.force_login(UserFactory(roles=[role]))
    assert client.get(reverse("orders:kitchen")).status_code == 403


def test_kitchen_starts_and_readies_an_order(client: Client) -> None:
    order = OrderFactory()
    client.force_login(UserFactory(tenant=order.tenant, roles=[Role.KITCHEN]))
    client.post(reverse("orders:kitchen-start", args=[order.pk]))
    client.post(reverse("orders:kitchen-ready", args=[order.pk]))
    with tenant_scope(order.tenant):
        order.refresh_from_db()
    assert (order.status, order.kitchen_ready_at is not None) == ("preparing", True)


def test_packer_packs_a_ready_order_with_its_seal(client: Client) -> None:
    order = OrderFactory()
    cook = UserFactory(tenant=order.tenant, roles=[Role.KITCHEN])
    transition_order(order=order, to=Status.PREPARING, actor=cook)
    client.force_login(UserFactory(tenant=order.tenant, roles=[Role.PACKER]))
    client.post(reverse("orders:pack", args=[order.pk]), {"seal_number": "SEAL-7781"})
    with tenant_scope(order.tenant):
        order.refresh_from_db()
    assert (order.status, order.seal_number) == ("packed", "SEAL-7781")


def test_packing_with_a_bad_seal_number_says_why_and_changes_nothing(client: Client) -> None:
    order = OrderFactory()
    transition_order(
        order=order,
        to=Status.PREPARING,
        actor=UserFactory(tenant=order.tenant, roles=[Role.KITCHEN]),
    )
    client.force_login(UserFactory(tenant=order.tenant, roles=[Role.PACKER]))
    response = client.post(
        reverse("orders:pack", args=[order.pk]),
        {"seal_number": "!"},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )
    with tenant_scope(order.tenant):
        order.refresh_from_db()
    assert (order.status, "4 to 32 letters" in response.content.decode()) == ("preparing", True)


def test_staff_pages_404_for_another_tenants_order(client: Client) -> None:
    theirs = OrderFactory()
    client.force_login(UserFactory(roles=[Role.KITCHEN]))
    assert client.post(reverse("orders:kitchen-start", args=[theirs.pk])).status_code == 404


def test_seeding_twice_adds_no_orders(seeded: Tenant) -> None:
    with tenant_scope(seeded):
        before = Order.objects.count()
    SeedDemo().handle()
    with tenant_scope(seeded):
        assert Order.objects.count() == before


def test_an_unreadable_order_does_not_take_down_the_kitchen_page(client: Client) -> None:
    from privacy.keys import destroy_subject_key

    erased, fine = OrderFactory(), None
    fine = OrderFactory(
        tenant=erased.tenant,
        customer={"name": "王五", "phone": "13800001111", "address": "北京市朝阳区A路1号"},
    )
    destroy_subject_key(erased.tenant, erased.subject_id)
    client.force_login(UserFactory(tenant=erased.tenant, roles=[Role.KITCHEN]))
    response = client.get(reverse("orders:kitchen"), HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert (response.status_code, "cannot be shown" in html, fine.code in html) == (200, True, True)


def test_the_kitchen_page_queries_grow_with_the_orders_shown_not_with_the_tenant(
    client: Client, django_assert_max_num_queries
) -> None:
    # One audited reveal for the page (one key lookup, one audit append): bounded by a
    # constant, never by how many orders the page shows or the tenant holds.
    first = OrderFactory()
    for _ in range(4):
        OrderFactory(tenant=first.tenant)
    client.force_login(UserFactory(tenant=first.tenant, roles=[Role.KITCHEN]))
    with django_assert_max_num_queries(20):
        response = client.get(reverse("orders:kitchen"))
    assert response.content.decode().count('class="ticket"') == 5


def test_a_kitchen_page_with_five_orders_writes_one_reveal_event_naming_them(
    client: Client,
) -> None:
    from audits.models import AuditEvent

    first = OrderFactory()
    orders = [first, *(OrderFactory(tenant=first.tenant) for _ in range(4))]
    client.force_login(UserFactory(tenant=first.tenant, roles=[Role.KITCHEN]))
    with tenant_scope(first.tenant):
        before = set(AuditEvent.objects.values_list("pk", flat=True))
    client.get(reverse("orders:kitchen"))
    with tenant_scope(first.tenant):
        new = list(AuditEvent.objects.exclude(pk__in=before))
    assert [(e.action, sorted(e.details["objects"]), e.details["count"]) for e in new] == [
        ("privacy.reveal_batch", sorted(str(o.pk) for o in orders), 5)
    ]


@pytest.mark.parametrize("url", ["orders:kitchen", "orders:packing"])
def test_a_station_pages_queries_do_not_grow_with_its_orders(client: Client, url: str) -> None:
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    from orders.lifecycle import mark_food_ready

    first = OrderFactory()
    role = Role.KITCHEN if url == "orders:kitchen" else Role.PACKER
    cook = UserFactory(tenant=first.tenant, roles=[Role.KITCHEN])
    client.force_login(UserFactory(tenant=first.tenant, roles=[role]))

    def add(n: int) -> None:
        for i in range(n):
            order = OrderFactory(
                tenant=first.tenant,
                customer={"name": "客", "phone": f"1370000{i:04d}", "address": "北京市A路1号"},
            )
            transition_order(order=order, to=Status.PREPARING, actor=cook)
            mark_food_ready(order=order, actor=cook)

    def count() -> int:
        with (
            CaptureQueriesContext(connections["default"]) as main,
            CaptureQueriesContext(connections["keystore"]) as keys,
        ):
            assert client.get(reverse(url)).status_code == 200
        return len(main) + len(keys)

    add(1)
    count()  # warms the per-process key caches
    one = count()
    add(9)
    assert count() == one
