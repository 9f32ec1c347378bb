"""Every role (and an integration token) × every order action × own/other tenant, against
the API and the back office (admin and staff pages). Expectations are written out here by
hand: they are the policy under test, not a copy of orders.permissions."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from orders.lifecycle import transition_order
from orders.models import Order, Status
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.factories import IntegrationTokenFactory, OrderFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")

INTEGRATION = "integration"
ACTORS = [*Role.values, INTEGRATION]
FIELDS = ["name", "phone", "address", "note", "items"]
ACTIONS = ["list", "view", *[f"reveal_{f}" for f in FIELDS], "transition", "print_label"]

VIEWERS = {
    "tenant_admin",
    "customer_service",
    "dispatcher",
    "kitchen",
    "packer",
    "supervisor",
    "privacy_officer",
    INTEGRATION,
}
REVEALS = {
    "customer_service": {"name", "phone", "address", "note"},
    "privacy_officer": {"name", "phone", "address", "note", "items"},
    "kitchen": {"items", "note"},
    "packer": {"items"},
}
PURPOSE = {
    "privacy_officer": "incident_investigation",
    "kitchen": "food_preparation",
    "packer": "packing",
}
# The transition each actor tries, from the status it starts in; the allowed ones succeed.
TRANSITION = {
    "kitchen": (Status.RECEIVED, Status.PREPARING, True),
    "packer": (Status.PREPARING, Status.PACKED, True),
    "customer_service": (Status.RECEIVED, Status.CANCELLED, True),
    INTEGRATION: (Status.RECEIVED, Status.PREPARING, True),
}
LABELS = {"packer", "dispatcher"}
# The kitchen and packers work from their station pages (tests/orders/test_pages.py), which
# show items only: here, in the API and the back office, they open no order at all.
STATION = {"kitchen", "packer"}


def expected(actor: str, action: str) -> bool:
    if action == "print_label":
        return actor in LABELS
    if actor in STATION:
        return False
    if action in ("list", "view"):
        return actor in VIEWERS
    if action.startswith("reveal_"):
        return action.removeprefix("reveal_") in REVEALS.get(actor, set())
    if action == "transition":
        return actor in TRANSITION
    return actor in LABELS


CELLS = [
    (actor, action, tenant, channel)
    for actor in ACTORS
    for action in ACTIONS
    for tenant in ("own", "other")
    for channel in ("api", "back_office")
    if not (channel == "api" and action == "print_label")  # labels are printed pages only
    and not (channel == "back_office" and actor == INTEGRATION)  # tokens have no back office
]


def _order_for(actor: str, tenant: Any) -> Order:
    order = OrderFactory(tenant=tenant)
    start = TRANSITION.get(actor, (Status.RECEIVED,))[0]
    if start == Status.PREPARING:
        cook = UserFactory(tenant=tenant, roles=[Role.KITCHEN])
        transition_order(order=order, to=Status.PREPARING, actor=cook)
    return order


def _status(order: Order) -> str:
    with tenant_scope(order.tenant):
        return Order.objects.get(pk=order.pk).status


def _api(
    client: Client, actor: str, action: str, order: Order, auth: dict[str, str]
) -> tuple[bool, int]:
    base = f"/api/v1/orders/{order.pk}/"
    if action == "list":
        response = client.get("/api/v1/orders/", **auth)
        listed = (
            [row["id"] for row in response.json().get("results", [])]
            if response.status_code == 200
            else []
        )
        return str(order.pk) in listed, response.status_code
    if action == "view":
        response = client.get(base, **auth)
        return response.status_code == 200, response.status_code
    if action.startswith("reveal_"):
        body = {
            "fields": [action.removeprefix("reveal_")],
            "purpose": PURPOSE.get(actor, "customer_service_call"),
        }
        response = client.post(base + "reveal/", data=body, content_type="application/json", **auth)
        return response.status_code == 200, response.status_code
    before = _status(order)
    _, target, _ = TRANSITION.get(actor, (None, Status.CANCELLED, False))
    response = client.post(
        base + "transition/",
        data={"to": target, "seal_number": "SEAL-0001"},
        content_type="application/json",
        **auth,
    )
    return _status(order) != before, response.status_code


def _back_office(client: Client, actor: str, action: str, order: Order) -> tuple[bool, int]:
    change = reverse("admin:orders_order_change", args=[order.pk])
    if action == "list":
        response = client.get(reverse("admin:orders_order_changelist"))
        listed = (
            [o.pk for o in response.context["cl"].result_list]
            if response.status_code == 200
            else []
        )
        return order.pk in listed, response.status_code
    if action == "view":
        response = client.get(change)
        return response.status_code == 200, response.status_code
    if action.startswith("reveal_"):
        field = action.removeprefix("reveal_")
        page = client.get(change)  # the reveal form's one-time nonce
        nonce = (page.context or {}).get("reveal_nonce", "") if page.status_code == 200 else ""
        response = client.post(
            reverse("admin:orders_order_reveal", args=[order.pk]),
            {
                "reveal_fields": [field],
                "purpose": PURPOSE.get(actor, "customer_service_call"),
                "reveal_nonce": nonce,
            },
        )
        return response.status_code == 200 and "values" in (
            response.context or {}
        ), response.status_code
    if action == "transition":
        before = _status(order)
        _, target, _ = TRANSITION.get(actor, (None, Status.CANCELLED, False))
        response = client.post(
            reverse("admin:orders_order_transition", args=[order.pk]),
            {"to": target, "seal_number": "SEAL-0001"},
        )
        return _status(order) != before, response.status_code
    response = client.get(reverse("orders:label", args=[order.pk]))
    return response.status_code == 200, response.status_code


@pytest.mark.parametrize(("actor", "action", "tenant", "channel"), CELLS)
def test_order_permission_matrix(
    client: Client, actor: str, action: str, tenant: str, channel: str
) -> None:
    own = TenantFactory()
    order = _order_for(actor, own if tenant == "own" else TenantFactory())
    if actor == INTEGRATION:
        auth = {"HTTP_AUTHORIZATION": f"Bearer {IntegrationTokenFactory(tenant=own).raw}"}
    else:
        client.force_login(UserFactory(tenant=own, roles=[actor]))
        auth = {}
    run = _api if channel == "api" else _back_office
    allowed, status_code = (
        run(client, actor, action, order, auth)
        if channel == "api"
        else run(client, actor, action, order)
    )
    assert allowed is (tenant == "own" and expected(actor, action))
    if tenant == "other" and action != "list" and actor != Role.RIDER:
        assert status_code == 404  # never a 403 that confirms the order exists


def test_the_matrix_covers_every_actor_and_action() -> None:
    # A token prints no labels: labels are pages of the back office, which tokens cannot open.
    every = {(a, b) for a in ACTORS for b in ACTIONS} - {(INTEGRATION, "print_label")}
    assert {(a, b) for a, b, _, _ in CELLS} == every
