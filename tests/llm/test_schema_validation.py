"""Context-schema models (SPEC §8)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import RootModel, ValidationError

from soe.lib.schema_validation import (
    root_model_for_field,
    schema_to_pydantic,
    schema_to_root_model,
)

PROFILE = {
    "type": "object",
    "properties": {
        "name": "string",
        "address": {"type": "object", "properties": {"city": {"type": "string"}}},
        "tags": {
            "type": "list",
            "items": {"type": "object", "properties": {"label": "str"}},
        },
    },
}


@pytest.mark.parametrize(
    ("type_name", "expected"),
    [
        ("string", str), ("text", str), ("STR", str),
        ("integer", int), ("int", int),
        ("number", float), ("Float", float),
        ("boolean", bool), ("bool", bool),
        ("list", list), ("array", list),
        ("dict", dict), ("object", dict),
        ("any", Any), ("whatever", Any),
    ],
)
def test_type_names(type_name: str, expected: Any) -> None:
    model = schema_to_root_model(type_name, "T")
    assert model.model_fields["root"].annotation is expected
    mapping_model = schema_to_root_model({"type": type_name}, "T")
    assert mapping_model.model_fields["root"].annotation is expected


def test_missing_type_and_non_mapping_definitions_are_any() -> None:
    assert schema_to_root_model({"description": "x"}, "T").model_fields["root"].annotation is Any
    assert schema_to_root_model(5, "T").model_fields["root"].annotation is Any


def test_list_items_type() -> None:
    model = schema_to_root_model({"type": "array", "items": "integer"}, "T")
    assert model.model_fields["root"].annotation == list[int]
    assert model.model_validate_json('["1", 2]').root == [1, 2]
    nested = schema_to_root_model({"type": "list", "items": {"type": "list", "items": "str"}}, "T")
    assert nested.model_fields["root"].annotation == list[list[str]]


def test_root_model_name_and_schema() -> None:
    model = root_model_for_field("count", {"type": "integer", "description": "how many"})
    assert issubclass(model, RootModel)
    assert model.__name__ == "CountRoot"
    assert model.model_json_schema() == {"title": "CountRoot", "type": "integer"}
    assert schema_to_root_model("string").__name__ == "RootModel"


def test_nested_model_names() -> None:
    model = root_model_for_field("profile", PROFILE)
    schema = model.model_json_schema()
    assert schema["$ref"] == "#/$defs/ProfileRootNested"
    assert set(schema["$defs"]) == {
        "ProfileRootNested",
        "ProfileRootNestedAddressNested",
        "ProfileRootNestedTagsItemNested",
    }
    tags = schema["$defs"]["ProfileRootNested"]["properties"]["tags"]
    assert tags["items"] == {"$ref": "#/$defs/ProfileRootNestedTagsItemNested"}


def test_nested_models_keep_extra_keys() -> None:
    model = root_model_for_field("profile", PROFILE)
    value = {"name": "Ana", "address": {"city": "X", "zip": 1}, "tags": [{"label": "a"}], "more": 2}
    assert model.model_validate(value).model_dump() == value


def test_nested_model_requires_fields() -> None:
    model = root_model_for_field("profile", PROFILE)
    with pytest.raises(ValidationError):
        model.model_validate({"name": "Ana", "tags": []})


def test_object_without_properties_is_dict() -> None:
    model = schema_to_root_model({"type": "object", "properties": {}}, "T")
    assert model.model_fields["root"].annotation is dict


def test_schema_to_pydantic_required_optional_and_defaults() -> None:
    model = schema_to_pydantic(
        {
            "a": "string",
            "b": {"type": "integer", "required": False},
            "c": {"type": "string", "default": "{{ context.x }}"},
            "d": {"type": "integer", "default": None},
        },
        "Thing",
    )
    fields = model.model_fields
    assert model.__name__ == "Thing"
    assert fields["a"].is_required() and fields["a"].annotation is str
    assert fields["b"].annotation == int | None and fields["b"].default is None
    assert fields["c"].annotation == str | None
    assert fields["d"].is_required() and fields["d"].annotation is int
    instance = model.model_validate({"a": "x", "d": 1})
    assert instance.c == "{{ context.x }}"  # defaults are literal, never rendered
    assert model.model_config["extra"] == "allow"


def test_description_only_when_non_empty() -> None:
    model = schema_to_pydantic(
        {"a": {"type": "string", "description": "the a"}, "b": {"type": "string", "description": ""}},
        "Thing",
    )
    properties = model.model_json_schema()["properties"]
    assert properties["a"] == {"description": "the a", "title": "A", "type": "string"}
    assert properties["b"] == {"title": "B", "type": "string"}


def test_default_model_name() -> None:
    assert schema_to_pydantic({"a": "str"}).__name__ == "DynamicModel"


def test_same_definition_same_class() -> None:
    first = root_model_for_field("profile", PROFILE)
    again = root_model_for_field("profile", json.loads(json.dumps(PROFILE)))
    assert first is again
    assert root_model_for_field("other", PROFILE) is not first
    assert schema_to_pydantic({"a": "str", "b": "int"}, "M") is schema_to_pydantic(
        {"a": "str", "b": "int"}, "M"
    )


def test_property_order_is_part_of_the_definition() -> None:
    first = schema_to_pydantic({"a": "str", "b": "int"}, "Ordered")
    second = schema_to_pydantic({"b": "int", "a": "str"}, "Ordered")
    assert list(first.model_fields) == ["a", "b"]
    assert list(second.model_fields) == ["b", "a"]
