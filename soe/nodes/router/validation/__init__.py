"""Router node config rules at their SPEC path (§13.2); they live in :mod:`soe.validation.nodes.router`."""

from __future__ import annotations

from soe.validation.nodes.router import validate_node_config

__all__ = ["validate_node_config"]
