"""Tool node config rules at their SPEC path (§13.2); they live in :mod:`soe.validation.nodes.tool`.

Only the registry check is bound here: it needs to know the built-in tools,
which validation (a lower layer) must not import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from soe.builtin_tools import get_builtin_tool_factory
from soe.validation.nodes import tool as rules
from soe.validation.nodes.tool import validate_node_config

__all__ = ["validate_node_config", "validate_tool_node_config"]


def _is_builtin(tool_name: str) -> bool:
    return get_builtin_tool_factory(tool_name) is not None


def validate_tool_node_config(node_config: Any, tools_registry: Mapping[str, Any] | None) -> None:
    """The structure rules, then that the tool resolves: registry entry first, else a built-in."""
    rules.validate_tool_node_config(node_config, tools_registry, _is_builtin)
