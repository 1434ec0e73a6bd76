"""Built-in ``soe_remove_context_schema_field``: delete a field's schema (SPEC §10.2, Q12).

No ``from __future__ import annotations`` here: agents build the tool's parameter
model from its signature, so the annotations must be real typing objects.
"""

from collections.abc import Callable
from typing import Any

from soe.builtin_tools._tree_mappings import CONTEXT_SCHEMA
from soe.types import Backends

__all__ = ["create_soe_remove_context_schema_field_tool"]

OPERATION = "soe_remove_context_schema_field"


def create_soe_remove_context_schema_field_tool(
        execution_id: str, backends: Backends, tools_registry: dict[str, Any] | None = None) -> Callable[..., dict[str, Any]]:
    """Bind ``soe_remove_context_schema_field`` to ``execution_id`` (Q7)."""

    def soe_remove_context_schema_field(field_name: str) -> dict[str, Any]:
        """Remove a field's definition from the context schema."""
        return CONTEXT_SCHEMA.remove(backends, execution_id, OPERATION, field_name)

    return soe_remove_context_schema_field
