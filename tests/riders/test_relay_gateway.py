"""The rider's call button through the HTTP relay backend and a real local gateway."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from audits.models import AuditEvent
from riders.relay import relay_backend
from tenants.scoping import tenant_scope
from tests.gateway_server import Answer, GatewayServer
from tests.riders.conftest import Delivery

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def gateway(settings: Any) -> Iterator[GatewayServer]:
    with GatewayServer() as server:
        settings.BAOMI_CALL_RELAY_BACKEND = "riders.relay.HttpRelayBackend"
        settings.BAOMI_CALL_RELAY_GATEWAY = server.config(label="call relay gateway")
        relay_backend.cache_clear()
        yield server
    relay_backend.cache_clear()


def _call(client: Client, delivery: Delivery) -> str:
    client.force_login(delivery.rider.user)
    client.post(
        reverse("riders:pickup", args=[delivery.order.pk]),
        {"code": delivery.order.code, "seal_number": "SEAL-4242"},
    )
    url = reverse("riders:call", args=[delivery.order.pk])
    return client.post(url, follow=True, HTTP_ACCEPT_LANGUAGE="en").content.decode()


def _relay_calls(delivery: Delivery) -> int:
    with tenant_scope(delivery.tenant):
        return AuditEvent.objects.filter(action="riders.relay_call").count()


def test_the_call_button_shows_the_gateways_virtual_number(
    client: Client, delivery: Delivery, gateway: GatewayServer
) -> None:
    gateway.answer(Answer(200, b'{"virtual_number": "+86 950 7777 0001"}'))
    html = _call(client, delivery)
    sent = gateway.requests[0].json()
    assert ("+86 950 7777 0001" in html, sent["action"], _relay_calls(delivery)) == (
        True,
        "bind",
        1,
    )


def test_a_relay_outage_shows_a_message_and_records_no_call(
    client: Client, delivery: Delivery, gateway: GatewayServer
) -> None:
    gateway.answer(Answer(503), Answer(503), Answer(503))
    html = _call(client, delivery)
    assert (
        "The call relay is not answering. Try again in a minute or call customer service." in html,
        len(gateway.requests),
        _relay_calls(delivery),
    ) == (True, 3, 0)
