"""The back office's order list pages by keyset (issue 21, core.keyset_admin): every order
once across pages, ties on the creation time included, both ways; no COUNT and no OFFSET;
filters, sorting and the date hierarchy kept working (their links start again at the first
page); a bad page link is the first page with a message; Chinese pages say 上一页/下一页."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.admin import site
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from orders.models import Order, Status
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, PrivacyNoticeFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")

LIST = "admin:orders_order_changelist"
PAGE = 3


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(site._registry[Order], "list_per_page", PAGE)


@pytest.fixture
def agent_client(client: Client) -> Client:
    notice = PrivacyNoticeFactory()
    client.force_login(UserFactory(tenant=notice.tenant, roles=[Role.CUSTOMER_SERVICE]))
    client.tenant = notice.tenant  # type: ignore[attr-defined]
    return client


def _orders_with_ties(tenant: Any, count: int, *, days: int = 0) -> list[Any]:
    """``count`` orders whose creation times repeat (three share each), spread over
    ``days`` days; their ids newest first, ties by id descending (the list's order)."""
    orders = [OrderFactory(tenant=tenant) for _ in range(count)]
    base = timezone.now().replace(microsecond=0) - timedelta(days=days + 1)
    with tenant_scope(tenant):
        for index, order in enumerate(orders):
            step = timedelta(days=days * (index // 3) / max(1, (count - 1) // 3) if days else 0)
            at = base + step + timedelta(minutes=index // 3)
            Order.objects.filter(pk=order.pk).update(created_at=at)
        return list(Order.objects.order_by("-created_at", "-id").values_list("id", flat=True))


def _page(client: Client, url: str, language: str = "en") -> Any:
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200, response.status_code
    return response


def _walk(client: Client, url: str, link: str) -> tuple[list[list[Any]], str]:
    pages = []
    while True:
        cl = _page(client, url).context["cl"]
        pages.append([order.pk for order in cl.result_list])
        following = getattr(cl, f"{link}_page_url")
        if following is None:
            return pages, url
        url = reverse(LIST) + following


def test_next_shows_every_order_once_in_order_and_previous_walks_back(
    agent_client: Client,
) -> None:
    expected = _orders_with_ties(agent_client.tenant, 8)
    forward, last = _walk(agent_client, reverse(LIST), "next")
    backward, first = _walk(agent_client, last, "previous")
    assert ([pk for page in forward for pk in page], [len(p) for p in forward]) == (
        expected,
        [3, 3, 2],
    )
    assert list(reversed(backward)) == forward
    assert _page(agent_client, first).context["cl"].previous_page_url is None


def test_a_page_counts_nothing_and_skips_no_rows(agent_client: Client) -> None:
    _orders_with_ties(agent_client.tenant, 7)
    cl = _page(agent_client, reverse(LIST)).context["cl"]
    with CaptureQueriesContext(connection) as queries:
        _page(agent_client, reverse(LIST) + cl.next_page_url)
    sql = [q["sql"].upper() for q in queries.captured_queries if "ORDERS_ORDER" in q["sql"].upper()]
    assert sql and not [s for s in sql if "COUNT(" in s or "OFFSET" in s or "DISTINCT" in s]
    assert not [s for s in sql if "_CT" in s.split("FROM")[0]]  # no sealed column read


def test_the_list_shows_no_other_tenants_orders(agent_client: Client) -> None:
    ours = _orders_with_ties(agent_client.tenant, 4)
    notice = PrivacyNoticeFactory()
    _orders_with_ties(notice.tenant, 4)
    forward, _last = _walk(agent_client, reverse(LIST), "next")
    assert [pk for page in forward for pk in page] == ours


def test_a_filter_applies_on_every_page_and_its_links_start_again(agent_client: Client) -> None:
    expected = _orders_with_ties(agent_client.tenant, 8)
    with tenant_scope(agent_client.tenant):
        Order.objects.filter(pk__in=expected[::2]).update(status=Status.CANCELLED)
    url = reverse(LIST) + "?status__exact=cancelled"
    forward, _last = _walk(agent_client, url, "next")
    first = _page(agent_client, url).context["cl"]
    second = _page(agent_client, reverse(LIST) + first.next_page_url)
    sort_link = second.context["cl"].get_query_string({"o": "0"})
    assert [pk for page in forward for pk in page] == expected[::2]
    assert parse_qs(urlsplit(first.next_page_url).query)["status__exact"] == ["cancelled"]
    assert ("cursor=" in sort_link, "status__exact=cancelled" in sort_link) == (False, True)


def test_sorting_by_code_pages_in_code_order(agent_client: Client) -> None:
    _orders_with_ties(agent_client.tenant, 7)
    with tenant_scope(agent_client.tenant):
        by_code = list(Order.objects.order_by("code").values_list("id", flat=True))
    forward, _last = _walk(agent_client, reverse(LIST) + "?o=0", "next")
    assert [pk for page in forward for pk in page] == by_code


def test_a_bad_page_link_shows_the_first_page_with_a_message(agent_client: Client) -> None:
    expected = _orders_with_ties(agent_client.tenant, 4)
    response = _page(agent_client, reverse(LIST) + "?cursor=not-a-cursor")
    assert [o.pk for o in response.context["cl"].result_list] == expected[:PAGE]
    assert [str(m) for m in response.context["messages"]] == [
        "This page's link cannot be read: the list starts again here."
    ]


def test_the_date_hierarchy_runs_from_the_first_to_the_last_day_without_a_scan(
    agent_client: Client,
) -> None:
    _orders_with_ties(agent_client.tenant, 6, days=2)
    with CaptureQueriesContext(connection) as queries:
        response = _page(agent_client, reverse(LIST))
    links = response.context["cl"].date_links()
    with tenant_scope(agent_client.tenant):
        days = {timezone.localtime(o.created_at).date() for o in Order.objects.all()}
    sql = " ".join(q["sql"].upper() for q in queries.captured_queries)
    assert "DATE_TRUNC" not in sql and "DISTINCT" not in sql
    assert links["show"] is True
    if len({(d.year, d.month) for d in days}) == 1:  # the month's days, first to last
        assert len(links["choices"]) == (max(days) - min(days)).days + 1


@pytest.mark.parametrize(
    ("language", "words"),
    [("en", ["Previous page", "Next page"]), ("zh-hans", ["上一页", "下一页"])],
)
def test_the_pager_speaks_the_pages_language(
    agent_client: Client, language: str, words: list[str]
) -> None:
    _orders_with_ties(agent_client.tenant, 4)
    html = _page(agent_client, reverse(LIST), language).content.decode()
    assert [word in html for word in words] == [True, True]
    assert 'id="page-next"' in html and 'id="page-previous"' not in html
    # No total is known: the header claims no "3 results (Show all)" for one page.
    assert ("Show all" in html, "显示全部" in html) == (False, False)


@pytest.mark.parametrize(
    ("can_add", "filters", "query", "reset"),
    [(False, False, "NOPE", True), (False, False, "", False), (True, False, "", False)],
)
def test_an_empty_search_offers_the_reset_even_to_a_role_that_cannot_add(
    can_add: bool, filters: bool, query: str, reset: bool
) -> None:
    """templates/unfold/helpers/empty_results.html: a search that finds nothing can be
    undone from the page, whatever the role may add and whether the list has filters."""
    from types import SimpleNamespace

    from django.template.loader import render_to_string

    page = render_to_string(
        "unfold/helpers/empty_results.html",
        {
            "cl": SimpleNamespace(opts=Order._meta, has_filters=filters, query=query),
            "has_add_permission": can_add,
            "title": "Add order",
        },
    )
    assert ("Reset filters" in page, "Add order" in page) == (reset, can_add)
