"""Built-in ``soe_inject_context_schema_field``: create or update a field's schema (SPEC §10.2, Q12).

The definition arrives as JSON or YAML text and is saved under the main
execution id, where output validation looks schemas up.

No ``from __future__ import annotations`` here: agents build the tool's parameter
model from its signature, so the annotations must be real typing objects.
"""

from collections.abc import Callable
from typing import Any

from soe.builtin_tools._common import parse_mapping, require_string
from soe.builtin_tools._tree_mappings import CONTEXT_SCHEMA
from soe.types import Backends

__all__ = ["create_soe_inject_context_schema_field_tool"]

OPERATION = "soe_inject_context_schema_field"


def create_soe_inject_context_schema_field_tool(
        execution_id: str, backends: Backends, tools_registry: dict[str, Any] | None = None) -> Callable[..., dict[str, Any]]:
    """Bind ``soe_inject_context_schema_field`` to ``execution_id`` (Q7)."""

    def soe_inject_context_schema_field(field_name: str, field_definition: str) -> dict[str, Any]:
        """Create or replace a context field's schema, given as JSON or YAML text (e.g. {"type": "string"})."""
        require_string("field_name", field_name)
        definition = parse_mapping(field_definition, "Field definition must be a dictionary/object")
        return CONTEXT_SCHEMA.inject(backends, execution_id, OPERATION, field_name, definition)

    return soe_inject_context_schema_field
