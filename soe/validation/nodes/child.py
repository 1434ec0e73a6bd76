"""Child node config rules (SPEC §13.2).

The child's emissions are validated although they are never emitted (Q9), so
a workflow that relies on them fails the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from soe._errors import WorkflowValidationError
from soe.validation.nodes.rules import (
    check_emissions,
    check_not_reserved,
    check_optional_type,
    check_required,
    check_triggers,
    require_mapping,
)

__all__ = ["validate_node_config"]


def _check_string_list(node_config: Mapping[str, Any], key: str, list_msg: str) -> None:
    """Propagation lists name signals or fields, so every item must be a string."""
    check_optional_type(node_config, key, list, list_msg)
    for item in node_config.get(key) or []:
        if not isinstance(item, str):
            msg = f"All items in '{key}' must be strings. Found: {type(item).__name__}"
            raise WorkflowValidationError(msg)


def _check_fan_out(node_config: Mapping[str, Any]) -> None:
    """A fan-out needs a field in each child's context to receive its item."""
    check_optional_type(node_config, "fan_out_field", str,
                        "'fan_out_field' must be a string (the context field to iterate over)")
    if node_config.get("fan_out_field") and not node_config.get("child_input_field"):
        msg = ("'child_input_field' is required when 'fan_out_field' is set - "
               "specify which field in child context receives each item")
        raise WorkflowValidationError(msg)
    check_optional_type(node_config, "child_input_field", str,
                        "'child_input_field' must be a string")


def _check_spawn_interval(node_config: Mapping[str, Any]) -> None:
    """Seconds between spawns: a real number (not a bool) that is not negative."""
    interval = node_config.get("spawn_interval")
    if interval is None:
        return
    if isinstance(interval, bool) or not isinstance(interval, (int, float)):
        msg = "'spawn_interval' must be a number (seconds to sleep between spawns)"
        raise WorkflowValidationError(msg)
    if interval < 0:
        msg = "'spawn_interval' must be non-negative"
        raise WorkflowValidationError(msg)


def validate_node_config(node_config: Any) -> None:
    """Raise ``WorkflowValidationError`` with the first failing child rule."""
    require_mapping(node_config)
    check_required(
        node_config, "child_workflow_name", str,
        "'child_workflow_name' is required - specify which workflow to start as a child",
        "'child_workflow_name' must be a string",
    )
    check_required(
        node_config, "child_initial_signals", list,
        "'child_initial_signals' is required - specify which signals to start the child workflow with",
        "'child_initial_signals' must be a list of signal names",
    )
    check_triggers(
        node_config,
        "'event_triggers' is required - specify which signals trigger the start of the child workflow",
        "'event_triggers' must be a list of signal names, e.g., [\"START_CHILD\"]",
    )
    _check_string_list(node_config, "signals_to_parent",
                       "'signals_to_parent' must be a list of signal names "
                       "that should propagate from child to parent")
    _check_string_list(node_config, "context_updates_to_parent",
                       "'context_updates_to_parent' must be a list of context key names "
                       "that should propagate from child to parent")
    check_optional_type(node_config, "input_fields", list,
                        "'input_fields' must be a list of context field names "
                        "to pass to the child workflow")
    _check_fan_out(node_config)
    _check_spawn_interval(node_config)
    check_emissions(node_config)
    _check_no_reserved_fields(node_config)


def _check_no_reserved_fields(node_config: Mapping[str, Any]) -> None:
    """Fields a child node writes into a child or back into its parent are never engine state.

    (``input_fields`` may name ``__`` fields: they are copied raw, and the
    engine sets the child's own ``__parent__`` and ``__operational__`` after.)
    """
    check_not_reserved("child_input_field", node_config.get("child_input_field"))
    for field in node_config.get("context_updates_to_parent") or []:
        check_not_reserved("context_updates_to_parent", field)
