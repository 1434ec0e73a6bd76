"""Tool node config rules (SPEC §13.2): the structure, then the registry at execution time.

The structure check runs wherever a workflow is validated; the registry check
needs the caller's ``tools_registry`` and so runs only when the node executes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any

from soe._errors import WorkflowValidationError
from soe.validation.nodes.rules import (
    check_optional_type,
    check_output_field,
    check_timeout,
    check_tool_emissions,
    check_triggers,
    is_int_at_least,
    require_mapping,
    template_strings,
    template_syntax_error,
    validate_once,
)

__all__ = ["validate_node_config", "validate_tool_node_config"]


def _check_parameter_templates(parameters: Any) -> None:
    """Every templated string in ``parameters`` must compile: a tool never gets a raw template."""
    for path, source in template_strings(parameters, "parameters"):
        error = template_syntax_error(source)
        if error is not None:
            msg = f"'{path}' template: Jinja syntax error - {error.message}"
            raise WorkflowValidationError(msg) from error


def _check_parameters(node_config: Mapping[str, Any]) -> None:
    """Inline ``parameters`` (a dict of templates) or ``context_parameter_field``, never both."""
    check_optional_type(node_config, "parameters", dict,
                        "'parameters' must be a dict - the kwargs to pass to the tool")
    _check_parameter_templates(node_config.get("parameters"))
    both = (node_config.get("parameters") is not None
            and node_config.get("context_parameter_field") is not None)
    if both:
        msg = "Cannot specify both 'parameters' and 'context_parameter_field' - use one or the other"
        raise WorkflowValidationError(msg)


def validate_node_config(node_config: Any) -> None:
    """Raise ``WorkflowValidationError`` with the first failing tool-structure rule."""
    require_mapping(node_config)
    check_triggers(
        node_config,
        "'event_triggers' is required - specify which signals activate this tool node",
        "'event_triggers' must be a list, e.g., [\"EXECUTE_TOOL\"]",
    )
    if "tool_name" not in node_config:
        msg = "'tool_name' is required - specify which tool to execute"
        raise WorkflowValidationError(msg)
    check_tool_emissions(node_config)
    check_output_field(node_config,
                       "'output_field' must be a string - the context field name to store the tool output")
    _check_parameters(node_config)
    check_timeout(node_config)


def _check_registry_entry(tool_name: Any, entry: Any) -> None:
    """A registry entry is a callable, or a dict whose options have the documented types."""
    if callable(entry):
        return
    if not isinstance(entry, Mapping):
        msg = f"Tool '{tool_name}' registry entry must be a callable or dict with 'function' key"
        raise WorkflowValidationError(msg)
    if "function" not in entry:
        msg = f"Tool '{tool_name}' registry entry dict must have 'function' key"
        raise WorkflowValidationError(msg)
    _check_entry_options(tool_name, entry)


def _check_entry_options(tool_name: Any, entry: Mapping[str, Any]) -> None:
    """``function`` callable, ``max_retries`` a count (bools rejected), ``failure_signal`` a string."""
    if not callable(entry["function"]):
        msg = f"Tool '{tool_name}' 'function' must be callable"
        raise WorkflowValidationError(msg)
    retries = entry.get("max_retries")
    if retries is not None and not is_int_at_least(retries, 0):
        msg = f"Tool '{tool_name}' 'max_retries' must be a non-negative integer"
        raise WorkflowValidationError(msg)
    signal = entry.get("failure_signal")
    if signal is not None and not isinstance(signal, str):
        msg = f"Tool '{tool_name}' 'failure_signal' must be a string"
        raise WorkflowValidationError(msg)


def validate_tool_node_config(node_config: Any, tools_registry: Mapping[str, Any] | None,
                              is_builtin: Callable[[str], bool]) -> None:
    """The structure rules, then that the tool resolves: registry entry first, else a built-in.

    ``is_builtin`` comes from the caller: the built-in tools sit above validation,
    so validation asks about them instead of importing them.
    """
    validate_once(validate_node_config, node_config)
    tool_name = node_config["tool_name"]
    registry = tools_registry or {}
    if isinstance(tool_name, Hashable) and tool_name in registry:
        _check_registry_entry(tool_name, registry[tool_name])  # type: ignore[index]  # any hashable key
    elif not isinstance(tool_name, str) or not is_builtin(tool_name):
        msg = f"Tool '{tool_name}' not found in tools_registry or builtin tools"
        raise WorkflowValidationError(msg)
