"""Everything under /api/ answers JSON: malformed ids, unknown paths, oversized bodies and
errors raised outside DRF's views; pages elsewhere keep Django's HTML."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from tests.factories import IntegrationTokenFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def token() -> Any:
    return IntegrationTokenFactory()


def _get(client: Client, token: Any, path: str) -> Any:
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {token.raw}", HTTP_ACCEPT_LANGUAGE="en")


def _answer(response: Any) -> tuple[int, str, Any]:
    return response.status_code, response["Content-Type"], response.json()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/orders/not-a-uuid/",
        "/api/v1/orders/00000000-0000-0000-0000-00000000000g/reveal/",
        "/api/v1/orders/%F0%9F%8D%9C/",
        "/api/v1/no-such-thing/",
        "/api/v2/",
    ],
)
def test_a_malformed_id_or_unknown_api_path_is_a_json_404(
    client: Client, token: Any, path: str
) -> None:
    assert _answer(_get(client, token, path)) == (404, "application/json", {"detail": "Not found."})


def test_an_oversized_api_body_is_a_json_413_and_writes_nothing(
    client: Client, token: Any, settings: Any
) -> None:
    from orders.models import Order
    from tenants.scoping import tenant_scope

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post(
        "/api/v1/orders/",
        json.dumps({"notes": "x" * 2000}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token.raw}",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    with tenant_scope(token.tenant):
        stored = Order.objects.count()
    assert (_answer(response), stored) == (
        (413, "application/json", {"detail": "The request body is too large."}),
        0,
    )


def test_a_nul_byte_in_an_api_path_is_a_json_400(client: Client, token: Any) -> None:
    response = _get(client, token, "/api/v1/orders/?status=%00")
    assert _answer(response) == (400, "application/json", {"detail": "Bad request."})


def test_a_page_outside_the_api_keeps_the_html_404(client: Client) -> None:
    response = client.get("/privacy/no-such-page/", HTTP_ACCEPT_LANGUAGE="en")
    assert (response.status_code, response["Content-Type"]) == (404, "text/html; charset=utf-8")
