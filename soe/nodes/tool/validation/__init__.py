"""Tool node validation: ``validate_node_config`` (structure) is what workflows use (§13.2)."""

from __future__ import annotations

from soe.nodes.tool.validation.config import validate_node_config, validate_tool_node_config

__all__ = ["validate_node_config", "validate_tool_node_config"]
