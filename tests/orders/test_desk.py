"""Customer service's order desk (orders.desk): search by order code or by the customer's
phone through the vault's blind index. The phone is typed, never shown: not in the page,
the URL, the session, a log line or the audit log's details; a search POST redirects and a
reload searches nothing again; another tenant's orders are never found."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from audits.models import AuditEvent
from incidents.models import AnomalyKind
from incidents.services import report_anomaly, resolve_anomaly
from orders.desk import DESK_RESULTS, RESULTS_SECONDS, parse_query
from tenants.actors import SystemActor
from tenants.landing import landings_for
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.factories import (
    OrderFactory,
    PrivacyNoticeFactory,
    TenantFactory,
    UserFactory,
    verified_second_factor,
)

pytestmark = pytest.mark.django_db(databases="__all__")

DESK = "admin:orders_order_desk"
PHONE = "13812345678"
OTHER_PHONE = "13987654321"


def _customer(phone: str) -> dict[str, str]:
    return {"name": "欧阳娜娜", "phone": phone, "address": "上海市浦东新区张江路88号7栋1201室"}


@pytest.fixture
def agent_client(client: Client) -> Client:
    notice = PrivacyNoticeFactory()
    client.agent = UserFactory(tenant=notice.tenant, roles=[Role.CUSTOMER_SERVICE])  # type: ignore[attr-defined]
    client.force_login(client.agent)  # type: ignore[attr-defined]
    client.tenant = notice.tenant  # type: ignore[attr-defined]
    return client


def _search(client: Client, query: str, **extra: Any) -> Any:
    return client.post(reverse(DESK), {"q": query}, HTTP_ACCEPT_LANGUAGE="en", **extra)


def _follow(client: Client, query: str) -> Any:
    return client.post(reverse(DESK), {"q": query}, HTTP_ACCEPT_LANGUAGE="en", follow=True)


def _messages(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def _events(tenant: Any, action: str) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


def _found_codes(response: Any) -> list[str]:
    return [row[0].split(">")[1].split("<")[0] for row in response.context["results"]["rows"]]


def test_the_desk_is_customer_services_work_page(agent_client: Client) -> None:
    pages = landings_for(agent_client.agent)  # type: ignore[attr-defined]
    response = agent_client.get(reverse(DESK), HTTP_ACCEPT_LANGUAGE="en")
    assert [(p.url_name, p.icon) for p in pages] == [
        (DESK, "support_agent"),
        ("training:home", "school"),  # after the desk: never where customer service lands
    ]
    assert (response.status_code, response.context["title"]) == (200, "Order desk")
    assert 'name="q"' in response.content.decode()


def test_search_by_code_opens_the_order(agent_client: Client) -> None:
    order = OrderFactory(tenant=agent_client.tenant)  # type: ignore[attr-defined]
    response = _search(agent_client, order.code)
    assert (response.status_code, response["Location"]) == (
        302,
        reverse("admin:orders_order_change", args=[order.pk]),
    )


@pytest.mark.parametrize(
    "typed",
    [
        lambda code: code.lower(),
        lambda code: code.replace("-", ""),
        lambda code: f"  {code[:5]} {code[6:]}  ".lower(),
        lambda code: code.replace("-", "－"),  # a full-width dash, as a Chinese keyboard types
    ],
    ids=["lowercase", "no-dash", "space-instead-of-dash", "full-width-dash"],
)
def test_search_by_code_tolerates_case_and_separators(agent_client: Client, typed: Any) -> None:
    order = OrderFactory(tenant=agent_client.tenant)  # type: ignore[attr-defined]
    response = _search(agent_client, typed(order.code))
    assert response["Location"] == reverse("admin:orders_order_change", args=[order.pk])


def test_an_unknown_code_is_a_message_on_the_desk(agent_client: Client) -> None:
    response = _follow(agent_client, "22222-33333")
    assert (response.redirect_chain, _messages(response)) == (
        [(reverse(DESK), 302)],
        ["No order has the code 22222-33333."],
    )


def test_another_tenants_order_is_never_found_by_code(agent_client: Client) -> None:
    theirs = OrderFactory(tenant=TenantFactory())
    response = _follow(agent_client, theirs.code)
    assert _messages(response) == [f"No order has the code {theirs.code}."]


def test_search_by_phone_finds_every_order_of_that_customer_in_this_tenant_only(
    agent_client: Client,
) -> None:
    tenant = agent_client.tenant  # type: ignore[attr-defined]
    mine = [OrderFactory(tenant=tenant, customer=_customer(PHONE)) for _ in range(3)]
    OrderFactory(tenant=tenant, customer=_customer(OTHER_PHONE))
    OrderFactory(tenant=TenantFactory(), customer=_customer(PHONE))  # same phone elsewhere
    response = _follow(agent_client, "+86 138-1234-5678")
    (url, status), *_ = response.redirect_chain
    assert (status, url.startswith(reverse(DESK) + "?r=")) == (302, True)
    assert sorted(_found_codes(response)) == sorted(order.code for order in mine)


def test_the_results_show_masks_never_the_phone(agent_client: Client) -> None:
    order = OrderFactory(tenant=agent_client.tenant, customer=_customer(PHONE))  # type: ignore[attr-defined]
    response = _follow(agent_client, PHONE)
    html = response.content.decode()
    assert (PHONE in html, "1234" in html, order.phone_masked in html, order.code in html) == (
        False,
        False,
        True,
        True,
    )
    assert "orders found for the phone number you typed" not in html  # one order: singular
    assert "1 order found for the phone number you typed" in html


def test_the_phone_is_in_no_url_session_log_line_or_audit_detail(
    agent_client: Client, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    tenant = agent_client.tenant  # type: ignore[attr-defined]
    OrderFactory(tenant=tenant, customer=_customer(PHONE))
    response = _search(agent_client, "138 1234 5678")
    page = agent_client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en")
    with tenant_scope(tenant):
        events = list(AuditEvent.objects.all())
    stored_sessions = [s.get_decoded() for s in Session.objects.all()]
    texts = [
        response["Location"],
        page.content.decode(),
        json.dumps(stored_sessions),
        caplog.text,
        json.dumps([(e.action, e.object_id, e.details) for e in events], ensure_ascii=False),
    ]
    assert [PHONE in text or "138 1234 5678" in text for text in texts] == [False] * 5


def test_a_phone_search_records_one_desk_event_with_only_the_number_of_results(
    agent_client: Client,
) -> None:
    tenant = agent_client.tenant  # type: ignore[attr-defined]
    for _ in range(2):
        OrderFactory(tenant=tenant, customer=_customer(PHONE))
    _search(agent_client, PHONE)
    (event,) = _events(tenant, "order.desk_phone_search")
    assert (event.actor, event.object_type, event.details, event.fields, event.purpose) == (
        f"user:{agent_client.agent.pk}",  # type: ignore[attr-defined]
        "",
        {"results": 2},
        ["phone"],
        "customer_service_call",
    )
    assert len(_events(tenant, "privacy.search")) == 1  # the vault's own record


def test_reloading_the_results_searches_nothing_again(agent_client: Client) -> None:
    tenant = agent_client.tenant  # type: ignore[attr-defined]
    order = OrderFactory(tenant=tenant, customer=_customer(PHONE))
    results = _search(agent_client, PHONE)["Location"]
    first = agent_client.get(results, HTTP_ACCEPT_LANGUAGE="en")
    again = agent_client.get(results, HTTP_ACCEPT_LANGUAGE="en")
    assert (_found_codes(first), _found_codes(again)) == ([order.code], [order.code])
    assert (
        len(_events(tenant, "order.desk_phone_search")),
        len(_events(tenant, "privacy.search")),
        "no-store" in again["Cache-Control"],
    ) == (1, 1, True)


def test_a_phone_with_no_orders_says_so(agent_client: Client) -> None:
    response = _follow(agent_client, PHONE)
    assert (response.context["results"]["rows"], response.status_code) == ([], 200)
    assert "No order of this tenant has a customer with this phone number." in (
        response.content.decode()
    )


def test_results_of_an_unknown_or_expired_handle_send_back_to_the_desk(
    agent_client: Client,
) -> None:
    OrderFactory(tenant=agent_client.tenant, customer=_customer(PHONE))  # type: ignore[attr-defined]
    results = _search(agent_client, PHONE)["Location"]
    session = agent_client.session
    stored = session[DESK_RESULTS]
    for entry in stored.values():
        entry["at"] -= RESULTS_SECONDS
    session[DESK_RESULTS] = stored
    session.save()
    expired = agent_client.get(results, HTTP_ACCEPT_LANGUAGE="en", follow=True)
    unknown = agent_client.get(reverse(DESK) + "?r=nope", HTTP_ACCEPT_LANGUAGE="en", follow=True)
    expected = ["These search results have expired; search again."]
    assert (_messages(expired), _messages(unknown)) == (expected, expected)


def test_results_handles_of_another_session_show_nothing(agent_client: Client) -> None:
    OrderFactory(tenant=agent_client.tenant, customer=_customer(PHONE))  # type: ignore[attr-defined]
    results = _search(agent_client, PHONE)["Location"]
    colleague = Client()
    colleague.force_login(UserFactory(tenant=agent_client.tenant, roles=[Role.CUSTOMER_SERVICE]))  # type: ignore[attr-defined]
    response = colleague.get(results, HTTP_ACCEPT_LANGUAGE="en", follow=True)
    assert _messages(response) == ["These search results have expired; search again."]


PHONE_MESSAGE = (
    "Enter a mobile number (11 digits starting with 1), a landline with its area code, "
    "or an international number starting with +."
)
NOT_A_QUERY = (
    "Enter an order code (10 letters and digits, such as 7KQ2M-X9T4P) or the customer's "
    "phone number."
)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Type an order code or a phone number."),
        ("   ", "Type an order code or a phone number."),
        ("1" * 41, "At most 40 characters."),
        ("x" * 500, "At most 40 characters."),
        ("1381234abcd", NOT_A_QUERY),
        ("欧阳娜娜", NOT_A_QUERY),
        ("🍜🍜🍜", NOT_A_QUERY),
        ("13812\x005678", "Null characters are not allowed."),
        ("<script>", NOT_A_QUERY),
        ("12345", PHONE_MESSAGE),
        ("+86 12", PHONE_MESSAGE),
    ],
    ids=[
        "empty",
        "blank",
        "too-long",
        "far-too-long",
        "letters-in-a-phone",
        "chinese",
        "emoji",
        "nul",
        "markup",
        "short-number",
        "short-international",
    ],
)
def test_bad_input_is_a_message_never_an_error_page(
    agent_client: Client, typed: str, message: str
) -> None:
    response = _follow(agent_client, typed)
    assert (response.status_code, response.redirect_chain, _messages(response)) == (
        200,
        [(reverse(DESK), 302)],
        [message],
    )
    assert _events(agent_client.tenant, "order.desk_phone_search") == []  # type: ignore[attr-defined]


def test_a_missing_field_is_a_message(agent_client: Client) -> None:
    response = agent_client.post(reverse(DESK), {}, HTTP_ACCEPT_LANGUAGE="en", follow=True)
    assert _messages(response) == ["Type an order code or a phone number."]


def test_the_search_box_never_shows_what_was_typed(agent_client: Client) -> None:
    response = _follow(agent_client, "1381234567")  # one digit short: refused
    assert ("1381234567" in response.content.decode(), _messages(response)) == (
        False,
        [PHONE_MESSAGE],
    )


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("7kq2m-x9t4p", ("code", "7KQ2M-X9T4P")),
        ("7KQ2MX9T4P", ("code", "7KQ2M-X9T4P")),
        ("0086 138 1234 5678", ("phone", "13812345678")),
        ("(021) 6123-4567", ("phone", "02161234567")),
        ("１３８１２３４５６７８", ("phone", "13812345678")),  # full-width digits
    ],
)
def test_the_query_is_read_as_a_code_or_a_phone(typed: str, expected: tuple[str, str]) -> None:
    assert parse_query(typed) == expected


@pytest.mark.parametrize(
    "role",
    [Role.DISPATCHER, Role.TENANT_ADMIN, Role.SUPERVISOR, Role.PRIVACY_OFFICER],
)
def test_other_back_office_roles_are_refused(client: Client, role: str) -> None:
    tenant = TenantFactory()
    OrderFactory(tenant=tenant, customer=_customer(PHONE))
    user = UserFactory(tenant=tenant, roles=[role])
    client.force_login(user)
    verified_second_factor(client, user)
    page = client.get(reverse(DESK))
    search = client.post(reverse(DESK), {"q": PHONE})
    assert (page.status_code, search.status_code) == (403, 403)
    assert _events(tenant, "order.desk_phone_search") == []
    assert _events(tenant, "privacy.search") == []


def test_the_desk_lists_orders_with_an_open_anomaly(agent_client: Client) -> None:
    tenant = agent_client.tenant  # type: ignore[attr-defined]
    system = SystemActor("tests")
    open_one, resolved_one = OrderFactory(tenant=tenant), OrderFactory(tenant=tenant)
    theirs = OrderFactory(tenant=TenantFactory())
    report_anomaly(order=open_one, kind=AnomalyKind.PIN_LOCKED, actor=system)
    resolved = report_anomaly(order=resolved_one, kind=AnomalyKind.DAMAGED, actor=system)
    resolve_anomaly(anomaly=resolved, outcome="no_action", note="", actor=agent_client.agent)  # type: ignore[attr-defined]
    report_anomaly(order=theirs, kind=AnomalyKind.LOST, actor=system)
    response = agent_client.get(reverse(DESK), HTTP_ACCEPT_LANGUAGE="en")
    queues = {queue.key: (queue, table) for queue, table in response.context["queues"]}
    queue, table = queues["open-anomalies"]
    html = response.content.decode()
    assert (queue.key, len(table["rows"]), open_one.code in html) == ("open-anomalies", 1, True)
    assert (resolved_one.code in html, theirs.code in html) == (False, False)
    assert "Delivery PIN locked after wrong attempts" in html
    assert reverse("admin:incidents_orderanomaly_changelist") + "?state=open" in html


def test_the_desk_page_reads_a_bounded_number_of_queries(
    agent_client: Client, django_assert_max_num_queries: Any
) -> None:
    tenant = agent_client.tenant  # type: ignore[attr-defined]
    for _ in range(4):
        OrderFactory(tenant=tenant, customer=_customer(PHONE))
    results = _search(agent_client, PHONE)["Location"]
    with django_assert_max_num_queries(20):
        response = agent_client.get(results, HTTP_ACCEPT_LANGUAGE="en")
    assert len(response.context["results"]["rows"]) == 4


def test_phone_searches_are_limited_per_person_and_hour(
    agent_client: Client, monkeypatch: Any
) -> None:
    from django.core.cache import cache

    from orders import desk

    cache.clear()
    monkeypatch.setattr(desk, "PHONE_SEARCHES_PER_HOUR", 2)
    tenant = agent_client.tenant  # type: ignore[attr-defined]
    OrderFactory(tenant=tenant, customer=_customer(PHONE))
    pages = [_follow(agent_client, PHONE).content.decode() for _ in range(3)]
    assert ["Too many phone searches" in page for page in pages] == [False, False, True]
    # The refused search is not run: two desk events and two vault searches.
    assert (
        len(_events(tenant, "order.desk_phone_search")),
        len(_events(tenant, "privacy.search")),
    ) == (2, 2)
