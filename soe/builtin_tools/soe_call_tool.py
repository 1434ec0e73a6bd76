"""Built-in ``soe_call_tool``: call a tool of the bound registry by name (SPEC §10.2).

Lets an agent reach any user tool through one meta-tool, with JSON arguments.
Only the registry the tool was bound with is searched (never the built-ins), and
failures come back as error dicts the agent can read, except the engine's own
aborts (template security/render errors, budgets), which always propagate.

No ``from __future__ import annotations`` here: agents build the tool's parameter
model from its signature, so the annotations must be real typing objects.
"""

import json
from collections.abc import Callable, Mapping
from typing import Any

from soe._errors import PASSTHROUGH_ERRORS
from soe.engine.telemetry import register_event
from soe.types import Backends, EventTypes

__all__ = ["create_soe_call_tool_tool"]

_AVAILABLE_LIMIT = 20


def _parse_arguments(arguments: Any) -> dict[str, Any]:
    """Keyword arguments from JSON text (empty means none); ``ValueError`` if not a JSON object."""
    if isinstance(arguments, Mapping):
        return dict(arguments)
    if not isinstance(arguments, str) or not arguments.strip():
        if arguments:
            raise ValueError(f"expected a JSON object string, got {type(arguments).__name__}")
        return {}
    try:
        parsed = json.loads(arguments)
    except RecursionError:
        raise ValueError("expected a JSON object, got one nested too deeply") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"expected a JSON object, got {type(parsed).__name__}")
    return parsed


def _lookup(registry: Mapping[str, Any] | None, tool_name: str) -> tuple[Any, dict[str, Any] | None]:
    """``(function, None)`` for a callable entry, else ``(None, error dict)``."""
    registry = registry or {}
    if tool_name not in registry:
        return None, {"error": f"Tool '{tool_name}' not found",
                      "available_tools": list(registry)[:_AVAILABLE_LIMIT]}
    entry = registry[tool_name]
    if isinstance(entry, Mapping):
        function = entry.get("function")
    elif callable(entry):
        function = entry
    else:
        return None, {"error": f"Invalid tool registry entry for '{tool_name}'"}
    if not callable(function):
        return None, {"error": f"Tool '{tool_name}' is not callable"}
    return function, None


def create_soe_call_tool_tool(execution_id: str, backends: Backends,
                              tools_registry: dict[str, Any] | None = None) -> Callable[..., dict[str, Any]]:
    """Bind ``call_tool`` to ``execution_id`` and the caller's registry (Q7)."""

    def call_tool(tool_name: str, arguments: str = "{}") -> dict[str, Any]:
        """Call a registered tool by name with its keyword arguments given as a JSON object string."""
        try:
            args = _parse_arguments(arguments)
        except ValueError as exc:
            return {"error": f"Invalid JSON arguments: {exc}", "tool_name": tool_name}
        function, error = _lookup(tools_registry, tool_name)
        if error is not None:
            return error
        register_event(backends, execution_id, EventTypes.TOOL_CALL,
                       {"meta_tool": "call_tool", "invoked_tool": tool_name, "arguments": args})
        try:
            result = function(**args)
        except PASSTHROUGH_ERRORS:
            raise
        except TypeError as exc:
            return {"error": f"Argument error for '{tool_name}': {exc}", "tool_name": tool_name}
        except Exception as exc:
            return {"error": f"Tool '{tool_name}' failed: {exc}", "tool_name": tool_name}
        return {"success": True, "tool_name": tool_name, "result": result}

    return call_tool
