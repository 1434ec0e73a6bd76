"""LLM node config rules at their SPEC path (§13.2); they live in :mod:`soe.validation.nodes.llm`."""

from __future__ import annotations

from soe.validation.nodes.llm import validate_node_config

__all__ = ["validate_node_config"]
