"""Helpers shared by the built-in tools (SPEC §10.2).

Tools receive text from LLMs, so structured arguments arrive as JSON or YAML
strings; the same parsing, main-execution lookup (Q12), telemetry and author
rules apply to every tool that needs them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from soe.engine.calls import current_node_name
from soe.engine.telemetry import register_event
from soe.lib.tree_scope import builtins_confined
from soe.lib.yaml_parser import parse_yaml
from soe.revisions.editor import RegistryEditor
from soe.revisions.history import API_AUTHOR
from soe.types import Backends, EventTypes

__all__ = [
    "editor",
    "main_execution_id",
    "parse_mapping",
    "parse_structured",
    "record_tool_event",
    "within_own_tree",
    "require_string",
]


def parse_structured(text: str) -> Any:
    """Parse ``text`` as JSON, falling back to YAML (``ValueError`` if neither parses)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return parse_yaml(text)
    except RecursionError:
        raise ValueError("Invalid JSON: values are nested too deeply") from None


def parse_mapping(data: Any, error: str) -> dict[str, Any]:
    """A plain dict from JSON/YAML text or an already-built mapping; ``ValueError(error)`` otherwise."""
    parsed = parse_structured(data) if isinstance(data, str) else data
    if not isinstance(parsed, Mapping):
        raise ValueError(error)
    return copy.deepcopy(dict(parsed))


def require_string(name: str, value: Any) -> str:
    """Names and prompts that the backends store must be non-empty strings."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"'{name}' must be a non-empty string, got {type(value).__name__}")
    return value


def main_execution_id(backends: Backends, execution_id: str) -> str:
    """The tree's main execution id from the bound context, else the bound id itself (Q12)."""
    ctx = backends.context.get_context(execution_id)
    operational = ctx.get("__operational__") if isinstance(ctx, Mapping) else None
    main_id = operational.get("main_execution_id") if isinstance(operational, Mapping) else None
    return main_id if isinstance(main_id, str) and main_id else execution_id


def within_own_tree(backends: Backends, execution_id: str, other_id: str) -> bool:
    """Whether a built-in bound to ``execution_id`` may reach ``other_id`` (always, unless confined)."""
    if not builtins_confined() or other_id == execution_id:
        return True
    return main_execution_id(backends, other_id) == main_execution_id(backends, execution_id)


def record_tool_event(backends: Backends, execution_id: str, data: dict[str, Any]) -> None:
    """The ``node_execution`` event a structural built-in registers (a ``node_name`` counts, Q13)."""
    register_event(backends, execution_id, EventTypes.NODE_EXECUTION, data)


def editor(execution_id: str, backends: Backends, operation: str) -> RegistryEditor:
    """Registry changes made by a built-in: authored by the calling node, else ``"api"``."""
    return RegistryEditor(execution_id, backends, operation, current_node_name() or API_AUTHOR)
