"""Context-schema field definitions turned into Pydantic models (SPEC §8).

A field definition is a type string (``summary: string``) or a mapping
``{type, description?, required?, default?, properties?, items?}``. Models are
named after where they sit in the definition (``ProfileRootNested``,
``ProfileRootNestedTagsItemNested``) because those names appear in the JSON
schema the LLM is shown.

Building a model with ``create_model`` is slow and the engine asks for one per
LLM call, so every built model is cached: the same definition under the same
name always yields the same class.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field, RootModel, create_model

__all__ = ["resolve_type", "root_model_for_field", "schema_to_pydantic", "schema_to_root_model"]

_SCALAR_TYPES: dict[str, Any] = {
    "string": str, "text": str, "str": str,
    "integer": int, "int": int,
    "number": float, "float": float,
    "boolean": bool, "bool": bool,
}
_LIST_NAMES = frozenset({"list", "array"})
_DICT_NAMES = frozenset({"dict", "object"})

_CACHE_LIMIT = 1024
_cache: dict[tuple[str, str, str], type[BaseModel]] = {}
_cache_lock = threading.Lock()


def _cache_key(kind: str, definition: Any, name: str) -> tuple[str, str, str] | None:
    """Canonical key of a definition, or ``None`` when it cannot be serialised.

    Key order is kept (not sorted): property order decides field order, which
    shows in the schema, so differently ordered definitions are different models.
    """
    try:
        return kind, name, json.dumps(definition, default=repr)
    except (TypeError, ValueError):
        return None


def _cached(kind: str, definition: Any, name: str,
            build: Callable[[], type[BaseModel]]) -> type[BaseModel]:
    """Return the cached model for ``definition`` under ``name``, building it once."""
    key = _cache_key(kind, definition, name)
    if key is None:
        return build()
    model = _cache.get(key)
    if model is not None:
        return model
    model = build()
    with _cache_lock:
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        return _cache.setdefault(key, model)


def _type_name(field_def: Any) -> str:
    """The lower-cased type name of a definition; ``any`` when it names none."""
    if isinstance(field_def, str):
        return field_def.lower()
    if isinstance(field_def, dict):
        type_name = field_def.get("type", "any")
        return type_name.lower() if isinstance(type_name, str) else "any"
    return "any"


def resolve_type(field_def: Any, name: str) -> Any:
    """The Python type a definition stands for, nested models named from ``name``."""
    type_name = _type_name(field_def)
    if type_name in _SCALAR_TYPES:
        return _SCALAR_TYPES[type_name]
    details = field_def if isinstance(field_def, dict) else {}
    if type_name in _LIST_NAMES:
        items = details.get("items")
        return list if items is None else list[resolve_type(items, name + "Item")]  # type: ignore[misc]  # built at run time
    if type_name in _DICT_NAMES:
        properties = details.get("properties")
        if isinstance(properties, dict) and properties:
            return schema_to_pydantic(properties, name + "Nested")
        return dict
    return Any


def _field_spec(field_def: Any, name: str) -> tuple[Any, Any]:
    """``(annotation, default-or-FieldInfo)`` of one property of a nested model."""
    field_type = resolve_type(field_def, name)
    details = field_def if isinstance(field_def, dict) else {}
    default = details.get("default")
    optional = not details.get("required", True) or default is not None
    description = details.get("description")
    if optional:
        field_type = field_type | None
    if description:
        return field_type, Field(default=default if optional else ..., description=description)
    return field_type, default if optional else ...


def schema_to_pydantic(schema: dict[str, Any], model_name: str = "DynamicModel") -> type[BaseModel]:
    """An object model with one field per property; extra keys are kept."""
    def build() -> type[BaseModel]:
        fields: dict[str, Any] = {
            str(prop): _field_spec(field_def, model_name + str(prop).title())
            for prop, field_def in schema.items()
        }
        return create_model(model_name, __config__=ConfigDict(extra="allow"), **fields)

    return _cached("object", schema, model_name, build)


def schema_to_root_model(field_def: Any, model_name: str = "RootModel") -> type[RootModel[Any]]:
    """A ``RootModel`` of the definition's type, renamed ``model_name``.

    The LLM answers with the bare value (``42``, ``"text"``, ``{...}``), so the
    root model validates that value directly.
    """
    def build() -> type[BaseModel]:
        root_type = resolve_type(field_def, model_name)
        return type(model_name, (RootModel[root_type],), {"__module__": __name__})  # type: ignore[valid-type]

    return cast("type[RootModel[Any]]", _cached("root", field_def, model_name, build))


def root_model_for_field(output_field: str, field_def: Any) -> type[RootModel[Any]]:
    """The root model of ``output_field``, named ``<Field>Root`` as the spec requires."""
    return schema_to_root_model(field_def, output_field.title() + "Root")
