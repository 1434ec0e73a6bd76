"""Agent node config rules at their SPEC path (§13.2); they live in :mod:`soe.validation.nodes.agent`."""

from __future__ import annotations

from soe.validation.nodes.agent import validate_node_config

__all__ = ["validate_node_config"]
