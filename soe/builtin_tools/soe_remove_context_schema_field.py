"""Built-in ``soe_remove_context_schema_field``: delete a field's schema (SPEC §10.2, Q12).

No ``from __future__ import annotations`` here: agents build the tool's parameter
model from its signature, so the annotations must be real typing objects.
"""

from collections.abc import Callable
from typing import Any

from soe.builtin_tools._common import load_context_schema, record_tool_event

__all__ = ["create_soe_remove_context_schema_field_tool"]

OPERATION = "soe_remove_context_schema_field"


def create_soe_remove_context_schema_field_tool(
        execution_id: str, backends: Any, tools_registry: dict | None = None) -> Callable[..., dict[str, Any]]:
    """Bind ``soe_remove_context_schema_field`` to ``execution_id`` (Q7)."""

    def soe_remove_context_schema_field(field_name: str) -> dict[str, Any]:
        """Remove a field's definition from the context schema."""
        main_id, schema = load_context_schema(backends, execution_id)
        if not isinstance(field_name, str) or field_name not in schema:
            raise ValueError(f"Field '{field_name}' not found in context schema")
        del schema[field_name]
        backends.context_schema.save_context_schema(main_id, schema)
        record_tool_event(backends, execution_id, {"tool": OPERATION, "field_name": field_name})
        return {"removed": True, "field_name": field_name,
                "message": f"Successfully removed field '{field_name}' from context schema"}

    return soe_remove_context_schema_field
