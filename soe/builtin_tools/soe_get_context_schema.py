"""Built-in ``soe_get_context_schema``: read the context schema of the execution tree (SPEC §10.2, Q12).

The schema is stored under the main execution id, so the tool works the same
inside a child execution.

No ``from __future__ import annotations`` here: agents build the tool's parameter
model from its signature, so the annotations must be real typing objects.
"""

import copy
from collections.abc import Callable
from typing import Any

from soe.builtin_tools._common import main_execution_id

__all__ = ["create_soe_get_context_schema_tool"]


def create_soe_get_context_schema_tool(execution_id: str, backends: Any,
                                       tools_registry: dict | None = None) -> Callable[..., dict[str, Any]]:
    """Bind ``soe_get_context_schema`` to ``execution_id`` (Q7)."""

    def soe_get_context_schema(field_name: str | None = None) -> dict[str, Any]:
        """Show one context field's schema definition, or the whole context schema."""
        backend = backends.context_schema
        schema = None if backend is None else backend.get_context_schema(main_execution_id(backends, execution_id))
        if schema is None:
            return {}
        if field_name:
            if field_name not in schema:
                return {"error": f"Field '{field_name}' not found in context schema", "available": list(schema)}
            return {"field_name": field_name, "definition": copy.deepcopy(schema[field_name])}
        return copy.deepcopy(dict(schema))  # never the backend's stored object

    return soe_get_context_schema
