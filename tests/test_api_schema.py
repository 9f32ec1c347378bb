"""The OpenAPI schema tells the truth: the list is a page, every error is declared, and the
rules the serializers enforce are in it. (scripts/schemathesis_run.py checks the live server
against it in CI.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator

from orders.serializers import CustomerIn, ItemIn, OrderIn, TransitionIn

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _component(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return schema["components"]["schemas"][name]


def _ref(content: dict[str, Any]) -> str:
    return content["content"]["application/json"]["schema"]["$ref"]


# (method, path) -> every status the operation is declared to answer. A new operation fails
# test_each_operation_declares_exactly_its_answers until it has a row here.
ANSWERS = {
    ("get", "/api/v1/me/"): {200, 401, 403, 429, 503},
    ("get", "/api/v1/orders/"): {200, 400, 401, 403, 429, 503},
    ("post", "/api/v1/orders/"): {201, 400, 401, 403, 409, 413, 429, 503},
    ("get", "/api/v1/orders/{order_id}/"): {200, 401, 403, 404, 429, 503},
    ("post", "/api/v1/orders/{order_id}/reveal/"): {
        200,
        400,
        401,
        403,
        404,
        409,
        410,
        413,
        429,
        500,
        503,
    },
    ("post", "/api/v1/orders/{order_id}/transition/"): {
        *(200, 400, 401, 403, 404, 409, 413, 429, 503)
    },
    ("post", "/api/v1/orders/{order_id}/assign/"): {200, 400, 401, 403, 404, 409, 413, 429, 503},
    ("post", "/api/v1/orders/{order_id}/auto-assign/"): {200, 401, 403, 404, 409, 413, 429, 503},
}


def _operations(schema: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }


def test_the_schema_is_valid_openapi_without_warnings(tmp_path: Path) -> None:
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", tmp_path / "s.yaml")


def test_the_order_list_is_declared_as_a_page_of_orders_with_links_and_no_count(
    schema: dict[str, Any],
) -> None:
    ok = schema["paths"]["/api/v1/orders/"]["get"]["responses"]["200"]
    page = _component(schema, "PaginatedOrderOutList")
    assert (
        _ref(ok),
        page["required"],
        sorted(page["properties"]),
        page["properties"]["next"]["nullable"],
        page["properties"]["results"]["items"],
    ) == (
        "#/components/schemas/PaginatedOrderOutList",
        ["next", "previous", "results"],
        ["next", "previous", "results"],
        True,
        {"$ref": "#/components/schemas/OrderOut"},
    )


def test_the_order_list_declares_its_cursor_parameter_and_no_page_number(
    schema: dict[str, Any],
) -> None:
    parameters = {p["name"]: p for p in schema["paths"]["/api/v1/orders/"]["get"]["parameters"]}
    assert (parameters["cursor"]["in"], parameters["cursor"]["schema"], "page" in parameters) == (
        "query",
        {"type": "string", "maxLength": 300, "minLength": 1, "pattern": "^[A-Za-z0-9_-]+$"},
        False,
    )


def test_each_operation_declares_exactly_its_answers(schema: dict[str, Any]) -> None:
    declared = {
        key: {int(code) for code in operation["responses"]}
        for key, operation in _operations(schema).items()
    }
    assert declared == ANSWERS


@pytest.mark.parametrize("key", sorted(ANSWERS))
def test_bad_input_is_declared_with_the_shape_of_config_api_errors(
    schema: dict[str, Any], key: tuple[str, str]
) -> None:
    responses = _operations(schema)[key]["responses"]
    refs = {_ref(responses[code]) for code in responses if code == "400"}
    assert refs <= {"#/components/schemas/ValidationError"}


@pytest.mark.parametrize("key", sorted(ANSWERS))
def test_other_errors_are_declared_as_a_detail_message(
    schema: dict[str, Any], key: tuple[str, str]
) -> None:
    responses = _operations(schema)[key]["responses"]
    errors = {code for code in responses if int(code) >= 401}
    generic = {code for code in errors if _ref(responses[code]) == "#/components/schemas/Error"}
    # 409s of transition and assignment name what is allowed or missing (their own shapes).
    assert errors - generic <= {"409"}


def test_a_taken_order_states_its_status_as_one_of_the_lifecycle(schema: dict[str, Any]) -> None:
    status = _component(schema, "OrderCreatedOut")["properties"]["status"]
    assert status == {"$ref": "#/components/schemas/OrderStatusEnum"}


def test_throttled_answers_declare_retry_after(schema: dict[str, Any]) -> None:
    throttled = schema["paths"]["/api/v1/orders/"]["post"]["responses"]["429"]
    assert throttled["headers"]["Retry-After"]["schema"] == {"type": "integer"}


def test_the_error_component_is_a_detail_message(schema: dict[str, Any]) -> None:
    error = _component(schema, "Error")
    assert (error["properties"], error["required"]) == ({"detail": {"type": "string"}}, ["detail"])


def test_the_validation_error_component_allows_field_messages_and_nesting(
    schema: dict[str, Any],
) -> None:
    assert _component(schema, "ValidationError")["additionalProperties"] == {
        "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "object"}]
    }


@pytest.mark.parametrize(
    "name", ["OrderIn", "CustomerIn", "ItemIn", "RevealIn", "TransitionIn", "AssignIn"]
)
def test_strict_request_bodies_refuse_unknown_properties(schema: dict[str, Any], name: str) -> None:
    assert _component(schema, name)["additionalProperties"] is False


def test_an_order_needs_one_to_fifty_items(schema: dict[str, Any]) -> None:
    items = _component(schema, "OrderIn")["properties"]["items"]
    assert (items["minItems"], items["maxItems"]) == (1, 50)


def test_a_reveal_names_one_to_five_fields(schema: dict[str, Any]) -> None:
    fields = _component(schema, "RevealIn")["properties"]["fields"]
    assert (fields["minItems"], fields["maxItems"]) == (1, 5)


def test_an_item_quantity_is_bounded(schema: dict[str, Any]) -> None:
    quantity = _component(schema, "ItemIn")["properties"]["quantity"]
    assert (quantity["type"], quantity["minimum"], quantity["maximum"]) == ("integer", 1, 99)


def test_the_customer_fields_state_their_length_and_pattern(schema: dict[str, Any]) -> None:
    customer = _component(schema, "CustomerIn")["properties"]
    assert (
        customer["name"]["maxLength"],
        customer["address"]["maxLength"],
        customer["phone"]["pattern"],
    ) == (100, 300, r"^(?:1[3-9][0-9]{9}|0[0-9]{9,11}|\+[1-9][0-9]{7,14})$")


def test_packing_requires_a_seal_number_in_the_schema(schema: dict[str, Any]) -> None:
    rules = _component(schema, "TransitionIn")["anyOf"]
    assert rules[1] == {
        "properties": {"seal_number": {"minLength": 1}},
        "required": ["seal_number"],
    }


def _pattern(schema: dict[str, Any], component: str, field: str) -> str:
    return _component(schema, component)["properties"][field]["pattern"]


# Texts the schema's pattern and the serializer must judge alike (schemathesis relies on it).
TEXTS = ["张三", " 李四 ", "a\tb", "a\nb", "", "   ", "a\x00b", "a\x07b", "a\x85b", "\x1fa"]


@pytest.mark.parametrize("text", TEXTS)
def test_the_published_name_pattern_matches_what_the_server_accepts(
    schema: dict[str, Any], text: str
) -> None:
    published = re.search(_pattern(schema, "CustomerIn", "name"), text) is not None
    serializer = CustomerIn(data={"name": text, "phone": "13800000000", "address": "上海"})
    assert serializer.is_valid() == published


@pytest.mark.parametrize("text", TEXTS)
def test_the_published_item_pattern_matches_what_the_server_accepts(
    schema: dict[str, Any], text: str
) -> None:
    published = re.search(_pattern(schema, "ItemIn", "name"), text) is not None
    assert ItemIn(data={"name": text, "quantity": 1}).is_valid() == published


@pytest.mark.parametrize("text", TEXTS)
def test_the_published_note_pattern_matches_what_the_server_accepts(
    schema: dict[str, Any], text: str
) -> None:
    published = text == "" or re.search(_pattern_of_note(schema), text) is not None
    order = {
        "customer": {"name": "张三", "phone": "13800000000", "address": "上海"},
        "items": [{"name": "饭", "quantity": 1}],
        "note": text,
        "privacy_notice_version": 1,
    }
    assert OrderIn(data=order).is_valid() == published


def _pattern_of_note(schema: dict[str, Any]) -> str:
    # allow_blank: drf-spectacular states "" as its own alternative.
    return _component(schema, "OrderIn")["properties"]["note"]["oneOf"][0]["pattern"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "This field may not be blank."),
        ("  ", "This field is required."),
        ("a\x07b", "Must not contain control characters."),
    ],
)
def test_a_refused_name_is_named_for_what_is_wrong(text: str, message: str) -> None:
    serializer = CustomerIn(data={"name": text, "phone": "13800000000", "address": "上海"})
    serializer.is_valid()
    assert serializer.errors["name"] == [message]


@pytest.mark.parametrize("value", [123, 1.5, True, None, ["x"]])
def test_a_text_field_refuses_other_json_types(value: Any) -> None:
    serializer = ItemIn(data={"name": value, "quantity": 1})
    assert (serializer.is_valid(), list(serializer.errors)) == (False, ["name"])


@pytest.mark.parametrize("value", ["1", 1.0, True, None])
def test_a_whole_number_field_refuses_other_json_types(value: Any) -> None:
    serializer = ItemIn(data={"name": "饭", "quantity": value})
    assert (serializer.is_valid(), list(serializer.errors)) == (False, ["quantity"])


@pytest.mark.parametrize(("seal", "valid"), [("", True), ("SEAL-1", True), (" AB12 ", True)])
def test_a_blank_or_well_formed_seal_number_is_accepted(seal: str, valid: bool) -> None:
    assert TransitionIn(data={"to": "preparing", "seal_number": seal}).is_valid() == valid


@pytest.mark.parametrize("seal", ["   ", "AB", "SEAL 1", "封签1234"])
def test_a_malformed_seal_number_is_refused_for_any_transition(seal: str) -> None:
    serializer = TransitionIn(data={"to": "preparing", "seal_number": seal})
    assert (serializer.is_valid(), list(serializer.errors)) == (False, ["seal_number"])
