"""Every page a role uses, and the API, carry a strict Content-Security-Policy with a nonce
and ``Cache-Control: no-store``; no page holds an inline script, style or event handler."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connections, transaction
from django.test import Client
from django.urls import reverse
from django.utils import translation

from riders.dispatch import assign_rider
from tenants.models import Role
from tenants.two_factor import needs_two_factor
from tests.factories import (
    IntegrationTokenFactory,
    TenantFactory,
    UserFactory,
    verified_second_factor,
)
from tests.riders.conftest import make_rider, packed_order

pytestmark = pytest.mark.django_db(databases="__all__")


@dataclass
class Page:
    role: str | None  # None: anonymous; "token": an integration token
    url: str


def _pages() -> list[Page]:
    """One tenant with an order assigned to a rider; the pages each role works on."""
    tenant = TenantFactory()
    order = packed_order(tenant)
    waiting = packed_order(tenant)  # not yet assigned: its label can still be printed
    rider = make_rider(tenant)
    assign_rider(
        order=order, rider=rider, actor=UserFactory(tenant=tenant, roles=[Role.DISPATCHER])
    )
    _pages.tenant = tenant  # type: ignore[attr-defined]
    _pages.rider = rider  # type: ignore[attr-defined]
    change = reverse("admin:orders_order_change", args=[order.pk])
    return [
        Page(None, reverse("admin:login")),
        Page(None, reverse("riders:login")),
        Page(None, reverse("privacy:erasure")),
        Page(None, reverse("incidents:report")),
        Page(None, reverse("incidents:status")),
        Page(Role.PRIVACY_OFFICER, reverse("admin:incidents_privacyreport_changelist")),
        Page(Role.TENANT_ADMIN, reverse("admin:tenants_user_changelist")),
        Page(Role.TENANT_ADMIN, reverse("admin:tenants_user_add")),
        Page(Role.TENANT_ADMIN, reverse("admin:tenants_tenant_settings")),
        Page(Role.CUSTOMER_SERVICE, reverse("admin:orders_order_desk")),
        Page(Role.CUSTOMER_SERVICE, reverse("admin:incidents_orderanomaly_changelist")),
        Page(Role.DISPATCHER, reverse("admin:orders_order_dispatch_board")),
        Page(Role.SUPERVISOR, reverse("admin:audits_auditevent_changelist")),
        Page(Role.CUSTOMER_SERVICE, reverse("admin:orders_order_changelist")),
        Page(Role.CUSTOMER_SERVICE, reverse("admin:orders_order_add")),
        Page(Role.CUSTOMER_SERVICE, change),
        Page(Role.DISPATCHER, change),
        Page(Role.SUPERVISOR, reverse("audits:dashboard")),  # where /admin/ sends them
        Page(Role.PRIVACY_OFFICER, reverse("admin:index")),
        Page(Role.KITCHEN, reverse("orders:kitchen")),
        Page(Role.PACKER, reverse("orders:packing")),
        Page(Role.PACKER, reverse("orders:label", args=[waiting.pk])),
        Page(Role.RIDER, reverse("riders:home")),
        Page(Role.RIDER, reverse("riders:order", args=[order.pk])),
        Page(Role.TENANT_ADMIN, reverse("api-docs")),
        Page(Role.TENANT_ADMIN, reverse("api-schema")),
        Page(Role.CUSTOMER_SERVICE, reverse("api:order-list")),
        Page("token", reverse("api:order-list")),
        Page("token", reverse("api-schema")),
    ]


def _fetch(client: Client) -> list[tuple[str, Any]]:
    """(role and URL, response) of every page, each fetched as its role."""
    fetched = []
    tenant = None
    for page in _pages():
        tenant = _pages.tenant  # type: ignore[attr-defined]
        client.logout()
        headers: dict[str, str] = {}
        user = None
        if page.role == Role.RIDER:
            user = _pages.rider.user  # type: ignore[attr-defined]
        elif page.role == "token":
            token = IntegrationTokenFactory(tenant=tenant)
            headers["Authorization"] = f"Bearer {token.raw}"
        elif page.role is not None:
            user = UserFactory(tenant=tenant, roles=[page.role])
        if user is not None:
            # As tests/conftest.py's force_login does for function-scoped clients.
            client.force_login(user)
            if needs_two_factor(user):
                verified_second_factor(client, user)
        response = client.get(page.url, headers=headers)
        fetched.append((f"{page.role} {page.url}", response))
    return fetched


@pytest.fixture(scope="module")
def responses(django_db_setup: Any, django_db_blocker: Any) -> Iterator[list[tuple[str, Any]]]:
    """Every page fetched once for the module's tests, which only read the answers (fetching
    the 29 pages, the schema among them, took seconds per test). Built in a transaction on
    every database that is rolled back when the module is done: nothing is committed."""
    with django_db_blocker.unblock():
        atomics = [transaction.atomic(using=alias) for alias in connections]
        for atomic in atomics:
            atomic.__enter__()
        try:
            cache.clear()  # as the autouse empty_cache does before each test
            with translation.override("en"):
                fetched = _fetch(Client())
        except BaseException:
            _roll_back(atomics, django_db_blocker)
            raise
    yield fetched
    _roll_back(atomics, django_db_blocker)


def _roll_back(atomics: list[Any], django_db_blocker: Any) -> None:
    with django_db_blocker.unblock():
        for alias, atomic in reversed(list(zip(connections, atomics, strict=True))):
            transaction.set_rollback(True, using=alias)
            atomic.__exit__(None, None, None)


def _directives(response: Any) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy", "")
    return {
        name: values
        for name, *values in (part.split() for part in header.split(";") if part.strip())
    }


def test_every_page_a_role_uses_answers_200(responses: list[tuple[str, Any]]) -> None:
    assert [(page, r.status_code) for page, r in responses if r.status_code != 200] == []


def test_every_page_has_a_csp_with_a_nonce_and_no_unsafe_inline(
    responses: list[tuple[str, Any]],
) -> None:
    weak = [
        page
        for page, response in responses
        if not any(v.startswith("'nonce-") for v in _directives(response).get("script-src", []))
        or "'unsafe-inline'" in response.headers.get("Content-Security-Policy", "")
        or "'unsafe-eval'" in response.headers.get("Content-Security-Policy", "")
    ]
    assert weak == []


def test_the_policy_allows_this_origin_only(responses: list[tuple[str, Any]]) -> None:
    _, response = responses[0]
    directives = _directives(response)
    nonce = directives["script-src"][1]
    assert directives == {
        "default-src": ["'self'"],
        "script-src": ["'self'", nonce],
        "style-src": ["'self'", nonce],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }


def test_each_response_has_its_own_nonce(responses: list[tuple[str, Any]]) -> None:
    nonces = [_directives(r)["script-src"][1] for _, r in responses]
    assert len(set(nonces)) == len(nonces)


def test_every_page_and_api_answer_is_not_stored(responses: list[tuple[str, Any]]) -> None:
    stored = [
        page
        for page, response in responses
        if "no-store" not in response.headers.get("Cache-Control", "")
    ]
    assert stored == []


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*\bnonce=)[^>]*>", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style(?![^>]*\bnonce=)[^>]*>|\sstyle=", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+=", re.IGNORECASE)
OTHER_ORIGIN = re.compile(r"""(?:src|href)=["'](?:https?:)?//""", re.IGNORECASE)


def test_no_page_holds_inline_code_without_the_nonce(responses: list[tuple[str, Any]]) -> None:
    found = [
        (page, pattern.pattern[:20])
        for page, response in responses
        if response["Content-Type"].startswith("text/html")
        for pattern in (INLINE_SCRIPT, INLINE_STYLE, EVENT_HANDLER, OTHER_ORIGIN)
        if pattern.search(response.content.decode())
    ]
    assert found == []


def test_nonced_inline_code_carries_the_headers_nonce(client: Client) -> None:
    client.force_login(UserFactory(tenant=TenantFactory(), roles=[Role.TENANT_ADMIN]))
    response = client.get(reverse("api-docs"))
    nonce = _directives(response)["script-src"][1].removeprefix("'nonce-").removesuffix("'")
    assert re.findall(r'<(script|style) nonce="([^"]+)"', response.content.decode()) == [
        ("style", nonce),
        ("script", nonce),
    ]


def test_swagger_ui_is_served_from_the_sidecar_static_files(client: Client) -> None:
    client.force_login(UserFactory(tenant=TenantFactory(), roles=[Role.TENANT_ADMIN]))
    html = client.get(reverse("api-docs")).content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets == [
        "/static/drf_spectacular_sidecar/swagger-ui-dist/favicon-32x32.png",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-standalone-preset.js",
    ]


# --- who may read the schema and the docs ------------------------------------------------


def test_anonymous_callers_get_401_for_the_schema_never_the_schema(client: Client) -> None:
    response = client.get(reverse("api-schema"))
    assert (
        response.status_code,
        response.headers["WWW-Authenticate"],
        b"openapi" in response.content,
    ) == (401, 'Bearer realm="api"', False)


def test_anonymous_browsers_are_sent_to_the_login_for_the_docs(client: Client) -> None:
    response = client.get(reverse("api-docs"))
    assert (response.status_code, response["Location"]) == (
        302,
        f"{reverse('admin:login')}?next=/api/docs/",
    )


@pytest.mark.parametrize("url_name", ["api-schema", "api-docs"])
def test_a_rider_may_not_read_the_schema_or_the_docs(client: Client, url_name: str) -> None:
    client.force_login(make_rider(TenantFactory()).user)
    response = client.get(reverse(url_name))
    assert (response.status_code, b"openapi" in response.content) == (403, False)


def test_a_revoked_or_unknown_token_gets_401_for_the_schema(client: Client) -> None:
    response = client.get(reverse("api-schema"), headers={"Authorization": "Bearer nope"})
    assert (response.status_code, b"openapi" in response.content) == (401, False)


@pytest.mark.parametrize(
    "role", [Role.TENANT_ADMIN, Role.CUSTOMER_SERVICE, Role.DISPATCHER, Role.SUPERVISOR]
)
def test_staff_read_the_schema(client: Client, role: str) -> None:
    client.force_login(UserFactory(tenant=TenantFactory(), roles=[role]))
    response = client.get(reverse("api-schema"))
    assert (response.status_code, response.content.startswith(b"openapi:")) == (200, True)


def test_an_integration_token_reads_the_schema(client: Client) -> None:
    token = IntegrationTokenFactory()
    response = client.get(reverse("api-schema"), headers={"Authorization": f"Bearer {token.raw}"})
    assert (response.status_code, response.content.startswith(b"openapi:")) == (200, True)


@pytest.mark.parametrize("url", ["/no-such-page/", "/api/v1/no-such-endpoint/"])
def test_error_answers_carry_the_policy_and_no_store(client: Client, url: str) -> None:
    response = client.get(url)
    assert (
        response.status_code,
        any(v.startswith("'nonce-") for v in _directives(response)["script-src"]),
        "no-store" in response.headers["Cache-Control"],
    ) == (404, True, True)
