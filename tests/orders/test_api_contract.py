"""The orders API contract for partner systems (integration tokens) and staff sessions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from audits.models import AuditEvent
from orders.models import Order
from privacy.models import DataSubject, SubjectKey
from tenants.actors import SystemActor
from tenants.models import Role
from tenants.scoping import tenant_scope
from tenants.services import revoke_api_token
from tests.factories import IntegrationTokenFactory, OrderFactory, PrivacyNoticeFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")

GOOD = {
    "customer": {
        "name": "张三",
        "phone": "+86 138-1234-5678",
        "address": "上海市浦东新区张江路1号2栋301室",
    },
    "items": [{"name": "宫保鸡丁", "quantity": 2}],
    "note": "少辣",
    "privacy_notice_version": 1,
}


@pytest.fixture
def token() -> Any:
    token = IntegrationTokenFactory()
    PrivacyNoticeFactory(tenant=token.tenant)
    return token


def _post(
    client: Client, token: Any, body: Any, path: str = "/api/v1/orders/", **extra: Any
) -> Any:
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(
        path,
        data=data,
        content_type=extra.pop("content_type", "application/json"),
        HTTP_AUTHORIZATION=f"Bearer {token.raw}",
        HTTP_ACCEPT_LANGUAGE="en",
        **extra,
    )


def _get(client: Client, token: Any, path: str) -> Any:
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {token.raw}", HTTP_ACCEPT_LANGUAGE="en")


def _stored(tenant: Any) -> tuple[int, int, int]:
    with tenant_scope(tenant):
        return Order.objects.count(), DataSubject.objects.count(), SubjectKey.objects.count()


def test_create_returns_masked_customer_items_and_the_pin(client: Client, token: Any) -> None:
    response = _post(client, token, GOOD)
    body = response.json()
    assert (response.status_code, body["status"], body["customer"], body["items"]) == (
        201,
        "received",
        {"name": "张*", "phone": "138****5678", "address": "上海市浦东新区张江路****"},
        [{"name": "宫保鸡丁", "quantity": 2}],
    )
    assert (sorted(body), len(body["delivery_pin"]), body["delivery_pin"].isdigit()) == (
        ["code", "created_at", "customer", "delivery_pin", "id", "items", "status"],
        6,
        True,
    )


def test_each_intake_response_renders_its_own_order(client: Client, token: Any) -> None:
    """The response's fields are built once (FieldsBuiltOnce): rendered like any DRF
    serializer, each response shows its own order, and the shared fields keep no data."""
    from rest_framework import serializers

    from orders.serializers import OrderCreatedOut

    other = {
        **GOOD,
        "customer": {"name": "李四", "phone": "13900001111", "address": "北京市朝阳区1号"},
        "items": [{"name": "米饭", "quantity": 1}, {"name": "汤", "quantity": 3}],
    }
    first, second = _post(client, token, GOOD).json(), _post(client, token, other).json()
    assert (first["customer"]["name"], second["customer"]["name"]) == ("张*", "李*")
    assert (len(first["items"]), second["items"][1]) == (1, {"name": "汤", "quantity": 3})
    plain = type(
        "PlainCreatedOut", (serializers.Serializer,), dict(OrderCreatedOut._declared_fields)
    )
    with tenant_scope(token.tenant):
        order = Order.objects.get(pk=second["id"])
    from orders.intake import NewOrder

    created = NewOrder(order=order, pin="000000", items=other["items"])
    assert OrderCreatedOut(created).data == plain(created).data
    shared = OrderCreatedOut._fields_built_once  # type: ignore[attr-defined]
    assert shared["customer"].root.instance is None
    with pytest.raises(TypeError, match="output only"):
        OrderCreatedOut(data={})
    fields = OrderCreatedOut(created).fields  # shared: no instance may change them
    with pytest.raises(TypeError):
        del fields["delivery_pin"]
    assert not hasattr(fields, "pop")


def test_the_pin_is_stored_only_as_a_keyed_hash(client: Client, token: Any) -> None:
    body = _post(client, token, GOOD).json()
    with tenant_scope(token.tenant):
        order = Order.objects.get(pk=body["id"])
    assert (len(order.pin_hash), body["delivery_pin"] in order.pin_hash) == (64, False)


def test_the_pin_never_appears_again(client: Client, token: Any) -> None:
    order_id = _post(client, token, GOOD).json()["id"]
    detail = _get(client, token, f"/api/v1/orders/{order_id}/").json()
    listed = _get(client, token, "/api/v1/orders/").json()["results"][0]
    assert ("delivery_pin" in detail, "delivery_pin" in listed) == (False, False)


def test_create_is_audited(client: Client, token: Any) -> None:
    order_id = _post(client, token, GOOD).json()["id"]
    with tenant_scope(token.tenant):
        event = AuditEvent.objects.get(action="order.created")
    assert (event.object_id, event.actor) == (order_id, f"token:{token.pk}")


BAD_INPUTS = [
    (
        "unknown field",
        {**GOOD, "email": "a@b.c"},
        {"email": ["Unknown field: Baomi collects only what delivery needs."]},
    ),
    (
        "unknown customer field",
        {**GOOD, "customer": {**GOOD["customer"], "id_card": "x"}},
        {"customer": {"id_card": ["Unknown field: Baomi collects only what delivery needs."]}},
    ),
    (
        "unknown item field",
        {**GOOD, "items": [{"name": "a", "quantity": 1, "allergy": "nuts"}]},
        {"items": {"0": {"allergy": ["Unknown field: Baomi collects only what delivery needs."]}}},
    ),
    (
        "invalid phone",
        {**GOOD, "customer": {**GOOD["customer"], "phone": "12345"}},
        {
            "customer": {
                "phone": [
                    "Enter a mobile number (11 digits starting with 1), a landline with its area code, or an international number starting with +."
                ]
            }
        },
    ),
    ("empty items", {**GOOD, "items": []}, {"items": ["This list may not be empty."]}),
    (
        "quantity 0",
        {**GOOD, "items": [{"name": "a", "quantity": 0}]},
        {"items": {"0": {"quantity": ["Ensure this value is greater than or equal to 1."]}}},
    ),
    (
        "quantity not a number",
        {**GOOD, "items": [{"name": "a", "quantity": "two"}]},
        {"items": {"0": {"quantity": ["A valid integer is required."]}}},
    ),
    (
        "unknown notice version",
        {**GOOD, "privacy_notice_version": 7},
        {"privacy_notice_version": ["Unknown privacy notice version 7."]},
    ),
    (
        "over-long name",
        {**GOOD, "customer": {**GOOD["customer"], "name": "张" * 101}},
        {"customer": {"name": ["Ensure this field has no more than 100 characters."]}},
    ),
    (
        "over-long note",
        {**GOOD, "note": "x" * 501},
        {"note": ["Ensure this field has no more than 500 characters."]},
    ),
    (
        "NUL byte",
        {**GOOD, "customer": {**GOOD["customer"], "address": "上海\x00市"}},
        {"customer": {"address": ["Null characters are not allowed."]}},
    ),
    (
        "missing customer",
        {k: v for k, v in GOOD.items() if k != "customer"},
        {"customer": ["This field is required."]},
    ),
    (
        "not an object",
        [GOOD],
        {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]},
    ),
]


@pytest.mark.parametrize(("case", "body", "errors"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_400_naming_the_field_and_writes_nothing(
    client: Client, token: Any, case: str, body: Any, errors: dict
) -> None:
    response = _post(client, token, body)
    assert (response.status_code, response.json(), _stored(token.tenant)) == (
        400,
        errors,
        (0, 0, 0),
    )


def test_a_body_that_is_not_json_is_400(client: Client, token: Any) -> None:
    response = _post(client, token, "{not json")
    assert (response.status_code, response.json()["detail"].startswith("JSON parse error")) == (
        400,
        True,
    )


def test_a_form_encoded_body_is_400(client: Client, token: Any) -> None:
    response = _post(client, token, "a=b", content_type="application/x-www-form-urlencoded")
    assert (response.status_code, response.json()) == (
        400,
        {"detail": "Send a JSON body (Content-Type: application/json)."},
    )


def test_list_is_masked_paginated_and_filtered_by_status(client: Client, token: Any) -> None:
    for _ in range(3):
        _post(client, token, GOOD)
    order_id = _post(client, token, GOOD).json()["id"]
    _post(client, token, {"to": "preparing"}, path=f"/api/v1/orders/{order_id}/transition/")
    body = _get(client, token, "/api/v1/orders/?status=preparing").json()
    assert (
        [row["id"] for row in body["results"]],
        body["results"][0]["customer"]["name"],
        body["next"],
        body["previous"],
    ) == ([order_id], "张*", None, None)


def test_list_filters_by_date(client: Client, token: Any) -> None:
    _post(client, token, GOOD)
    assert (
        len(
            _get(client, token, "/api/v1/orders/?created_after=2000-01-01T00:00:00Z").json()[
                "results"
            ]
        ),
        len(
            _get(client, token, "/api/v1/orders/?created_before=2000-01-01T00:00:00Z").json()[
                "results"
            ]
        ),
    ) == (1, 0)


@pytest.mark.parametrize(
    "query", ["status=lost", "created_after=yesterday", "cursor=0", "page=2", "colour=red"]
)
def test_bad_list_filters_are_400(client: Client, token: Any, query: str) -> None:
    response = _get(client, token, f"/api/v1/orders/?{query}")
    assert (response.status_code, list(response.json())) == (400, [query.split("=")[0]])


def test_list_queries_are_bounded(
    client: Client, token: Any, django_assert_max_num_queries: Any
) -> None:
    for _ in range(5):
        _post(client, token, GOOD)
    with django_assert_max_num_queries(8):
        _get(client, token, "/api/v1/orders/")


def test_another_tenants_order_is_404(client: Client, token: Any) -> None:
    theirs = OrderFactory()
    assert _get(client, token, f"/api/v1/orders/{theirs.pk}/").status_code == 404


def test_another_tenants_order_is_never_listed(client: Client, token: Any) -> None:
    OrderFactory()
    assert _get(client, token, "/api/v1/orders/").json()["results"] == []


def test_tokens_never_reveal(client: Client, token: Any) -> None:
    order_id = _post(client, token, GOOD).json()["id"]
    response = _post(
        client,
        token,
        {"fields": ["phone"], "purpose": "customer_service_call"},
        path=f"/api/v1/orders/{order_id}/reveal/",
    )
    assert (response.status_code, response.json()) == (
        403,
        {"detail": "Integration tokens never reveal personal data."},
    )


def test_staff_session_reveals_and_is_audited(client: Client) -> None:
    order = OrderFactory()
    agent = UserFactory(tenant=order.tenant, roles=[Role.CUSTOMER_SERVICE])
    client.force_login(agent)
    response = client.post(
        f"/api/v1/orders/{order.pk}/reveal/",
        data={"fields": ["phone", "name"], "purpose": "customer_service_call"},
        content_type="application/json",
    )
    with tenant_scope(order.tenant):
        event = AuditEvent.objects.filter(action="privacy.reveal").get()
    assert (
        response.status_code,
        response.json(),
        event.fields,
        response.headers["Cache-Control"],
    ) == (
        200,
        {"values": {"name": "欧阳娜娜", "phone": "13912345678"}},
        ["name", "phone"],
        "no-store",
    )


def test_reveal_refused_for_a_role_names_the_fields(client: Client) -> None:
    order = OrderFactory()
    client.force_login(UserFactory(tenant=order.tenant, roles=[Role.SUPERVISOR]))
    response = client.post(
        f"/api/v1/orders/{order.pk}/reveal/",
        data={"fields": ["phone"], "purpose": "incident_investigation"},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert (response.status_code, response.json()) == (
        403,
        {"detail": "Your roles may not reveal Phone for this purpose."},
    )


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"fields": ["ssn"], "purpose": "customer_service_call"},
            {"fields": {"0": ['"ssn" is not a valid choice.']}},
        ),
        (
            {"fields": [], "purpose": "customer_service_call"},
            {"fields": ["This list may not be empty."]},
        ),
        (
            {"fields": ["phone"], "purpose": "gossip"},
            {"purpose": ['"gossip" is not a valid choice.']},
        ),
        (
            {"fields": ["phone"], "purpose": "customer_service_call", "why": "x"},
            {"why": ["Unknown field: Baomi collects only what delivery needs."]},
        ),
    ],
)
def test_bad_reveal_requests_are_400(client: Client, body: dict, errors: dict) -> None:
    order = OrderFactory()
    client.force_login(UserFactory(tenant=order.tenant, roles=[Role.CUSTOMER_SERVICE]))
    response = client.post(
        f"/api/v1/orders/{order.pk}/reveal/",
        data=body,
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert (response.status_code, response.json()) == (400, errors)


def test_illegal_transition_is_409_naming_the_allowed_ones(client: Client, token: Any) -> None:
    order_id = _post(client, token, GOOD).json()["id"]
    response = _post(
        client, token, {"to": "picked_up"}, path=f"/api/v1/orders/{order_id}/transition/"
    )
    assert (response.status_code, response.json()) == (
        409,
        {
            "detail": "An order that is received cannot become picked_up.",
            "status": "received",
            "allowed": ["preparing", "cancelled"],
        },
    )


def test_transition_to_an_unknown_status_is_400(client: Client, token: Any) -> None:
    order_id = _post(client, token, GOOD).json()["id"]
    response = _post(client, token, {"to": "eaten"}, path=f"/api/v1/orders/{order_id}/transition/")
    assert (response.status_code, response.json()) == (
        400,
        {"to": ['"eaten" is not a valid choice.']},
    )


def test_packing_through_the_api_needs_the_seal_number(client: Client, token: Any) -> None:
    order_id = _post(client, token, GOOD).json()["id"]
    _post(client, token, {"to": "preparing"}, path=f"/api/v1/orders/{order_id}/transition/")
    response = _post(client, token, {"to": "packed"}, path=f"/api/v1/orders/{order_id}/transition/")
    assert (response.status_code, response.json()) == (
        400,
        {"seal_number": ["Enter the seal's number: 4 to 32 letters, digits or hyphens."]},
    )


def test_revoked_token_is_refused(client: Client, token: Any) -> None:
    revoke_api_token(token=token, actor=SystemActor("tests"))
    response = _get(client, token, "/api/v1/orders/")
    assert (response.status_code, response.json()) == (401, {"detail": "Invalid or revoked token."})


@pytest.mark.parametrize("header", ["Bearer nonsense", "Bearer bmt_999_x", "Bearer", "Bearer a b"])
def test_bad_tokens_are_refused(client: Client, header: str) -> None:
    response = client.get("/api/v1/orders/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401


def test_tokens_are_throttled(client: Client, token: Any, settings: Any) -> None:
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "token": "3/hour"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    codes = [_get(client, token, "/api/v1/orders/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_the_schema_documents_the_orders_api(client: Client) -> None:
    # The schema is for staff and integration tokens only (config/api_docs.py).
    client.force_login(UserFactory(roles=[Role.DISPATCHER]))
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert {
        "/api/v1/orders/",
        "/api/v1/orders/{order_id}/reveal/",
        "/api/v1/orders/{order_id}/transition/",
    } <= set(schema["paths"])


MORE_BAD_INPUTS = [
    (
        "over-long address",
        {**GOOD, "customer": {**GOOD["customer"], "address": "上" * 301}},
        {"customer": {"address": ["Ensure this field has no more than 300 characters."]}},
    ),
    (
        "over-long item name",
        {**GOOD, "items": [{"name": "饭" * 101, "quantity": 1}]},
        {"items": {"0": {"name": ["Ensure this field has no more than 100 characters."]}}},
    ),
    (
        "too many items",
        {**GOOD, "items": [{"name": "a", "quantity": 1}] * 51},
        {"items": ["Ensure this field has no more than 50 elements."]},
    ),
    (
        "quantity a boolean",
        {**GOOD, "items": [{"name": "a", "quantity": True}]},
        {"items": {"0": {"quantity": ["A valid integer is required."]}}},
    ),
]


@pytest.mark.parametrize(
    ("case", "body", "errors"), MORE_BAD_INPUTS, ids=[c[0] for c in MORE_BAD_INPUTS]
)
def test_more_bad_input_is_400_and_writes_nothing(
    client: Client, token: Any, case: str, body: Any, errors: dict
) -> None:
    response = _post(client, token, body)
    assert (response.status_code, response.json(), _stored(token.tenant)) == (
        400,
        errors,
        (0, 0, 0),
    )


def test_emoji_and_mixed_scripts_are_accepted_and_masked(client: Client, token: Any) -> None:
    body = {
        **GOOD,
        "customer": {
            "name": "Zoë 李👍 Smith",
            "phone": "13812345678",
            "address": "Flat 2, 10 Rue de l'Église, Montréal",
        },
        "note": "🍜 ok",
    }
    response = _post(client, token, body)
    assert (response.status_code, response.json()["customer"]) == (
        201,
        {"name": "Z** 李* S****", "phone": "138****5678", "address": "****, Montréal"},
    )


def test_long_free_text_never_overflows_the_mask_columns(client: Client, token: Any) -> None:
    body = {
        **GOOD,
        "customer": {
            "name": " ".join(["Bartholomew"] * 8),
            "phone": "13812345678",
            "address": "Cottage, " + "Very Long Place Name " * 13,
        },
    }
    response = _post(client, token, body)
    assert (response.status_code, len(response.json()["customer"]["name"]) <= 40) == (201, True)


def test_deeply_nested_json_is_400(client: Client, token: Any) -> None:
    response = _post(client, token, "[" * 100000)
    assert response.status_code == 400


def test_a_session_and_another_tenants_token_are_refused(client: Client, token: Any) -> None:
    client.force_login(UserFactory(roles=[Role.CUSTOMER_SERVICE]))
    response = _get(client, token, "/api/v1/orders/")
    assert (response.status_code, response.json()) == (
        403,
        {"detail": "This token belongs to another tenant than your session."},
    )


def test_nul_bytes_in_query_strings_are_400(client: Client, token: Any) -> None:
    assert _get(client, token, "/api/v1/orders/?status=%00").status_code == 400


def test_409_names_only_the_statuses_this_endpoint_can_reach(client: Client, token: Any) -> None:
    order = OrderFactory(tenant=token.tenant)
    cook = UserFactory(tenant=token.tenant, roles=[Role.KITCHEN])
    from orders.lifecycle import transition_order

    transition_order(order=order, to="preparing", actor=cook)
    transition_order(
        order=order,
        to="packed",
        actor=UserFactory(tenant=token.tenant, roles=[Role.PACKER]),
        seal_number="SEAL-1",
    )
    response = _post(
        client, token, {"to": "assigned"}, path=f"/api/v1/orders/{order.pk}/transition/"
    )
    assert (response.status_code, response.json()["allowed"]) == (409, ["cancelled"])
