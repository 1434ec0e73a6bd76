"""Router node config rules (SPEC §13.2).

A router exists only to emit, so it is the one node type whose emissions are
required and whose templated conditions are syntax-checked before it runs.
"""

from __future__ import annotations

from typing import Any

from soe.validation.nodes.rules import check_emissions, check_triggers, require_mapping

__all__ = ["validate_node_config"]


def validate_node_config(node_config: Any) -> None:
    """Raise ``WorkflowValidationError`` with the first failing router rule."""
    require_mapping(node_config)
    check_triggers(
        node_config,
        "'event_triggers' is required - specify which signals activate this router",
        "'event_triggers' must be a list, e.g., [\"START\", \"RETRY\"]",
    )
    check_emissions(
        node_config,
        required_msg="'event_emissions' is required - specify which signals to emit based on conditions",
        check_conditions=True,
    )
