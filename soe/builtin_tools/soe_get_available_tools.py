"""Built-in ``soe_get_available_tools``: name the built-ins and the bound registry's tools (SPEC §10.2).

No ``from __future__ import annotations`` here: agents build the tool's parameter
model from its signature, so the annotations must be real typing objects.
"""

from collections.abc import Callable
from typing import Any

from soe.builtin_tools._names import BUILTIN_TOOL_NAMES
from soe.types import Backends

__all__ = ["create_soe_get_available_tools_tool"]


def create_soe_get_available_tools_tool(execution_id: str, backends: Backends,
                                        tools_registry: dict[str, Any] | None = None) -> Callable[..., dict[str, Any]]:
    """Bind ``soe_get_available_tools`` to the caller's registry (nothing is cached into it, Q7)."""

    def soe_get_available_tools() -> dict[str, Any]:
        """List the built-in tool names and the user tool names available to this execution."""
        return {"builtin_tools": list(BUILTIN_TOOL_NAMES), "user_tools": list(tools_registry or {})}

    return soe_get_available_tools
