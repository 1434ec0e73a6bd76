"""Built-in ``soe_inject_context_schema_field``: create or update a field's schema (SPEC §10.2, Q12).

The definition arrives as JSON or YAML text and is saved under the main
execution id, where output validation looks schemas up.

No ``from __future__ import annotations`` here: agents build the tool's parameter
model from its signature, so the annotations must be real typing objects.
"""

from collections.abc import Callable
from typing import Any

from soe.builtin_tools._common import (
    load_context_schema,
    parse_mapping,
    record_tool_event,
    require_string,
)

__all__ = ["create_soe_inject_context_schema_field_tool"]

OPERATION = "soe_inject_context_schema_field"


def create_soe_inject_context_schema_field_tool(
        execution_id: str, backends: Any, tools_registry: dict | None = None) -> Callable[..., dict[str, Any]]:
    """Bind ``soe_inject_context_schema_field`` to ``execution_id`` (Q7)."""

    def soe_inject_context_schema_field(field_name: str, field_definition: str) -> dict[str, Any]:
        """Create or replace a context field's schema, given as JSON or YAML text (e.g. {"type": "string"})."""
        require_string("field_name", field_name)
        definition = parse_mapping(field_definition, "Field definition must be a dictionary/object")
        main_id, schema = load_context_schema(backends, execution_id)
        action = "updated" if field_name in schema else "created"
        schema[field_name] = definition
        backends.context_schema.save_context_schema(main_id, schema)
        record_tool_event(backends, execution_id, {"tool": OPERATION, "field_name": field_name, "action": action})
        return {"success": True, "field_name": field_name, "action": action,
                "message": f"Successfully {action} field '{field_name}' in context schema"}

    return soe_inject_context_schema_field
