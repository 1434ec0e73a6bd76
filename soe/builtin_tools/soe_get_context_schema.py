"""Built-in ``soe_get_context_schema``: read the context schema of the execution tree (SPEC §10.2, Q12).

The schema is stored under the main execution id, so the tool works the same
inside a child execution.

No ``from __future__ import annotations`` here: agents build the tool's parameter
model from its signature, so the annotations must be real typing objects.
"""

from collections.abc import Callable
from typing import Any

from soe.builtin_tools._tree_mappings import CONTEXT_SCHEMA
from soe.types import Backends

__all__ = ["create_soe_get_context_schema_tool"]


def create_soe_get_context_schema_tool(execution_id: str, backends: Backends,
                                       tools_registry: dict[str, Any] | None = None) -> Callable[..., dict[str, Any]]:
    """Bind ``soe_get_context_schema`` to ``execution_id`` (Q7)."""

    def soe_get_context_schema(field_name: str | None = None) -> dict[str, Any]:
        """Show one context field's schema definition, or the whole context schema."""
        return CONTEXT_SCHEMA.show(backends, execution_id, field_name)

    return soe_get_context_schema
