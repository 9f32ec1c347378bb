"""The audit log's list pages by keyset (issue 21, core.keyset_admin): newest first by time
and id (never by the chain's sequence), every event once across pages with ties on the time,
filters kept on every page, no COUNT and no OFFSET over the log, another tenant's events
never in it, and the pager in the page's language."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin import site
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audits.models import AuditEvent
from audits.services import Event, record_events
from tenants.actors import SystemActor
from tenants.models import Role, User
from tenants.scoping import tenant_scope
from tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")

LIST = "admin:audits_auditevent_changelist"
PAGE = 3
SYSTEM = SystemActor("seed-demo")


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(site._registry[AuditEvent], "list_per_page", PAGE)


@pytest.fixture
def tenant() -> Any:
    return TenantFactory()


@pytest.fixture
def logged_in(client: Client, tenant: Any) -> Client:
    supervisor: User = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    client.force_login(supervisor)
    return client


def _events(tenant: Any, batches: int, per_batch: int = 3) -> list[int]:
    """``batches`` batches of searches (the events of a batch share their time); the ids
    of all ``privacy.search`` events of the tenant in the list's order."""
    for _ in range(batches):
        record_events(
            tenant=tenant,
            actor=SYSTEM,
            events=[Event(action="privacy.search") for _ in range(per_batch)],
        )
    with tenant_scope(tenant):
        return list(
            AuditEvent.objects.filter(action="privacy.search")
            .order_by("-occurred_at", "-id")
            .values_list("id", flat=True)
        )


def _walk(client: Client, url: str, link: str) -> tuple[list[list[int]], str]:
    pages = []
    while True:
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 200
        cl = response.context["cl"]
        pages.append([event.pk for event in cl.result_list])
        following = getattr(cl, f"{link}_page_url")
        if following is None:
            return pages, url
        url = reverse(LIST) + following


def test_pages_show_every_event_once_newest_first_with_the_filter_kept(
    logged_in: Client, tenant: Any
) -> None:
    expected = _events(tenant, 3)
    forward, last = _walk(logged_in, reverse(LIST) + "?action=privacy.search", "next")
    backward, _first = _walk(logged_in, last, "previous")
    assert ([pk for page in forward for pk in page], [len(p) for p in forward]) == (
        expected,
        [3, 3, 3],
    )
    assert list(reversed(backward)) == forward


def test_a_page_of_the_log_counts_nothing_and_skips_no_rows(logged_in: Client, tenant: Any) -> None:
    _events(tenant, 3)
    first = logged_in.get(reverse(LIST)).context["cl"]
    with CaptureQueriesContext(connection) as queries:
        response = logged_in.get(reverse(LIST) + first.next_page_url)
    sql = [
        q["sql"].upper()
        for q in queries.captured_queries
        if "AUDITS_AUDITEVENT" in q["sql"].upper() and q["sql"].upper().startswith("SELECT")
    ]
    assert response.status_code == 200 and sql
    assert not [s for s in sql if "COUNT(" in s or "OFFSET" in s or "DISTINCT" in s]
    assert not [s for s in sql if "ORDER BY" in s and '"SEQUENCE"' in s.split("ORDER BY")[1]]


def test_another_tenants_events_never_appear(logged_in: Client, tenant: Any) -> None:
    ours = _events(tenant, 2)
    _events(TenantFactory(), 2)
    forward, _last = _walk(logged_in, reverse(LIST) + "?action=privacy.search", "next")
    assert [pk for page in forward for pk in page] == ours


@pytest.mark.parametrize(("language", "words"), [("en", "Next page"), ("zh-hans", "下一页")])
def test_the_logs_pager_speaks_the_pages_language(
    logged_in: Client, tenant: Any, language: str, words: str
) -> None:
    _events(tenant, 2)
    html = logged_in.get(reverse(LIST), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert words in html and 'id="page-next"' in html
