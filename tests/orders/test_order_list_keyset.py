"""The API's order list pages by keyset (issue 21): every order exactly once across pages,
ties on the creation time included, both ways; no COUNT and no sealed column read; the
other tenant's orders never in it; a bad cursor a 400 naming ``cursor``; the filters kept
in the links; and an order the index serves as it is (no sort over the tenant)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.keyset import after, keys_of
from orders.api import OrderPages
from orders.models import Order, Status
from tenants.scoping import tenant_scope
from tests.factories import IntegrationTokenFactory, OrderFactory, PrivacyNoticeFactory

pytestmark = pytest.mark.django_db(databases="__all__")

PAGE = 3


@pytest.fixture
def token() -> Any:
    token = IntegrationTokenFactory()
    PrivacyNoticeFactory(tenant=token.tenant)
    return token


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(OrderPages, "page_size", PAGE)


def _get(client: Client, token: Any, path: str) -> Any:
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {token.raw}", HTTP_ACCEPT_LANGUAGE="en")


def _path(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def _orders_with_ties(tenant: Any, count: int) -> list[Any]:
    """``count`` orders of ``tenant`` whose creation times repeat (three share each time):
    the newest first, ties by id, descending — the order the list promises."""
    orders = [OrderFactory(tenant=tenant) for _ in range(count)]
    base = timezone.now().replace(microsecond=0) - timedelta(days=1)
    with tenant_scope(tenant):
        for index, order in enumerate(orders):
            Order.objects.filter(pk=order.pk).update(
                created_at=base + timedelta(minutes=index // 3)
            )
        return list(Order.objects.order_by("-created_at", "-id").values_list("id", flat=True))


def _walk(client: Client, token: Any, path: str, link: str) -> tuple[list[list[str]], str]:
    """The pages met following ``link`` ("next" or "previous") from ``path``, and the path
    of the last page."""
    pages = []
    while True:
        response = _get(client, token, path)
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append([row["id"] for row in body["results"]])
        if body[link] is None:
            return pages, path
        path = _path(body[link])


def test_following_next_shows_every_order_once_in_order_and_previous_walks_back(
    client: Client, token: Any
) -> None:
    expected = [str(pk) for pk in _orders_with_ties(token.tenant, 11)]
    forward, last = _walk(client, token, "/api/v1/orders/", "next")
    backward, first = _walk(client, token, last, "previous")
    assert ([pk for page in forward for pk in page], [len(p) for p in forward]) == (
        expected,
        [3, 3, 3, 2],
    )
    assert (list(reversed(backward)), _get(client, token, first).json()["previous"]) == (
        forward,
        None,
    )


def test_a_page_reads_no_count_and_no_sealed_column(client: Client, token: Any) -> None:
    _orders_with_ties(token.tenant, 7)
    body = _get(client, token, "/api/v1/orders/").json()
    with CaptureQueriesContext(connection) as queries:
        response = _get(client, token, _path(body["next"]))
    selects = [q["sql"] for q in queries.captured_queries if "orders_order" in q["sql"]]
    assert (response.status_code, len(selects)) == (200, 1)
    assert not [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert "_ct" not in selects[0].split("FROM")[0]
    assert sorted(response.json()["results"][0]) == [
        "code",
        "created_at",
        "customer",
        "id",
        "item_count",
        "seal_number",
        "status",
        "status_changed_at",
    ]


def test_another_tenants_orders_never_appear_even_at_the_same_times(
    client: Client, token: Any
) -> None:
    ours = [str(pk) for pk in _orders_with_ties(token.tenant, 5)]
    other = IntegrationTokenFactory()
    PrivacyNoticeFactory(tenant=other.tenant)
    theirs = _orders_with_ties(other.tenant, 5)
    forward, _last = _walk(client, token, "/api/v1/orders/", "next")
    # A cursor at their newest order's position still lists only ours.
    with tenant_scope(other.tenant):
        newest = Order.objects.get(pk=theirs[0])
    raw = {"k": [newest.created_at.isoformat(), str(newest.pk)], "b": 0}
    cursor = base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")
    from_theirs = _get(client, token, f"/api/v1/orders/?cursor={cursor}").json()["results"]
    assert [pk for page in forward for pk in page] == ours
    assert {row["id"] for row in from_theirs} <= set(ours)


def _cursor(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("cursor", "message"),
    [
        ("%%%", "This cursor cannot be read: use the next or previous link as given."),
        ("bm90IGpzb24", "This cursor cannot be read: use the next or previous link as given."),
        (_cursor([1, 2]), "This cursor is not a position in this list."),
        (
            _cursor({"k": ["2026-01-01T00:00:00+00:00"], "b": 0}),
            "This cursor is not a position in this list.",
        ),
        (
            _cursor({"k": ["2026-01-01T00:00:00+00:00", "not-a-uuid"], "b": 0}),
            "This cursor is not a position in this list.",
        ),
        (
            _cursor({"k": ["yesterday", "00000000-0000-0000-0000-000000000000"], "b": 0}),
            "This cursor is not a position in this list.",
        ),
        (
            _cursor(
                {"k": ["2026-01-01T00:00:00+00:00", "00000000-0000-0000-0000-000000000000"], "b": 7}
            ),
            "This cursor is not a position in this list.",
        ),
        ("a" * 301, "Ensure this field has no more than 300 characters."),
        ("eyJrIjpbXX0!", "This cursor cannot be read: use the next or previous link as given."),
        ("", "This field may not be blank."),
    ],
)
def test_a_bad_cursor_is_a_400_naming_it(
    client: Client, token: Any, cursor: str, message: str
) -> None:
    response = _get(client, token, f"/api/v1/orders/?cursor={cursor}")
    assert (response.status_code, response.json()) == (400, {"cursor": [message]})


def test_a_page_number_is_refused_by_name(client: Client, token: Any) -> None:
    response = _get(client, token, "/api/v1/orders/?page=2")
    assert (response.status_code, list(response.json())) == (400, ["page"])


def test_filters_are_kept_in_the_links_and_apply_on_every_page(client: Client, token: Any) -> None:
    expected = _orders_with_ties(token.tenant, 8)
    with tenant_scope(token.tenant):
        Order.objects.filter(pk__in=expected[::2]).update(status=Status.CANCELLED)
    start = timezone.now() - timedelta(days=2)
    path = f"/api/v1/orders/?status=cancelled&created_after={start.isoformat().replace('+', '%2B')}"
    pages, _last = _walk(client, token, path, "next")
    first = _get(client, token, path).json()
    assert [pk for page in pages for pk in page] == [str(pk) for pk in expected[::2]]
    assert parse_qs(urlsplit(first["next"]).query)["status"] == ["cancelled"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plan")
def test_the_index_serves_the_lists_order_without_a_sort(token: Any) -> None:
    orders = _orders_with_ties(token.tenant, 4)
    keys = keys_of(Order, OrderPages.ordering)
    with tenant_scope(token.tenant), connection.cursor() as cursor:
        last = Order.objects.get(pk=orders[1])
        page = after(
            Order.objects.order_by(*(k.ordering for k in keys)).values("id"),
            keys,
            (last.created_at, last.pk),
        )[:4]
        # A handful of rows: make the planner show the plan it would choose at size (a
        # sort is refused when any index can give the order, so one must give it).
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        plan = page.explain()
    assert ("order_list" in plan, "Sort" in plan) == (True, False), plan
