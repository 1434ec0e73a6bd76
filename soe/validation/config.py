"""Config and ``orchestrate`` parameter checks (SPEC §13.1, §13.2, §2.2 ``limits``).

Validation runs before anything is saved, so a bad config fails with a
message naming the workflow, node and field instead of misbehaving mid-run.
Node rules live with each node type; this module dispatches to them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from soe._errors import ConfigShapeError, WorkflowValidationError
from soe.lib.yaml_parser import parse_yaml
from soe.validation.nodes.agent import validate_node_config as validate_agent_node
from soe.validation.nodes.child import validate_node_config as validate_child_node
from soe.validation.nodes.llm import validate_node_config as validate_llm_node
from soe.validation.nodes.router import validate_node_config as validate_router_node
from soe.validation.nodes.rules import is_int_at_least
from soe.validation.nodes.tool import validate_node_config as validate_tool_node

__all__ = [
    "EXTERNAL_SIGNALS_KEY",
    "LIMIT_NAMES",
    "LIMITS_KEY",
    "NODE_VALIDATORS",
    "RESERVED_KEYS",
    "check_reserved_name",
    "parse_external_signals",
    "parse_limits",
    "validate_config",
    "validate_initial_workflow",
    "validate_orchestrate_params",
    "validate_workflow",
]

LIMITS_KEY = "limits"
EXTERNAL_SIGNALS_KEY = "external_signals"
# Top-level keys that are never workflows, in either config shape.
RESERVED_KEYS = (LIMITS_KEY, EXTERNAL_SIGNALS_KEY)
LIMIT_NAMES = ("max_steps", "max_concurrency", "max_llm_calls", "max_tokens", "max_template_output",
               "max_template_ms", "max_call_seconds", "max_run_seconds", "max_children",
               "confine_builtin_tools")
_SWITCHES = frozenset({"confine_builtin_tools"})  # the one limit that is on or off, not a count

# Structure-only validators: the tool's registry check needs the caller's
# tools_registry and runs when the node executes (Q23).
NODE_VALIDATORS: dict[str, Callable[[Any], None]] = {
    "router": validate_router_node,
    "llm": validate_llm_node,
    "agent": validate_agent_node,
    "tool": validate_tool_node,
    "child": validate_child_node,
}


def validate_orchestrate_params(initial_workflow_name: Any, initial_signals: Any) -> None:
    """The first three §13.1 checks: a start needs signals to broadcast and a workflow to run."""
    if not isinstance(initial_signals, list):
        msg = (f"'initial_signals' must be a list, got {type(initial_signals).__name__}. "
               "Example: initial_signals=['START']")
        raise WorkflowValidationError(msg)
    if not initial_signals:
        msg = "'initial_signals' cannot be empty - at least one signal is required to start execution"
        raise WorkflowValidationError(msg)
    if not isinstance(initial_workflow_name, str) or not initial_workflow_name:
        msg = "'initial_workflow_name' must be a non-empty string"
        raise WorkflowValidationError(msg)


def validate_initial_workflow(initial_workflow_name: str, registry: Mapping[str, Any] | None) -> None:
    """The workflow to start must be in the saved registry (a falsy config gives an empty one, Q19)."""
    workflows = registry or {}
    if initial_workflow_name not in workflows:
        msg = (f"Workflow '{initial_workflow_name}' not found in config. "
               f"Available workflows: {list(workflows.keys())}")
        raise WorkflowValidationError(msg)


def check_reserved_name(workflow_name: Any) -> None:
    """Reserved keys are never workflows, so a registry passed on as a config cannot be misread (§2.2)."""
    if workflow_name in RESERVED_KEYS:
        msg = f"'{workflow_name}' is reserved and cannot be used as a workflow name"
        raise WorkflowValidationError(msg)


def _node_validator(workflow_name: Any, node_name: Any, node_config: Any) -> Callable[..., Any] | None:
    """The validator for this node's type; ``None`` for a ``_`` custom type, which is not checked."""
    prefix = f"Workflow '{workflow_name}', node '{node_name}': "
    if not isinstance(node_config, Mapping):
        msg = f"{prefix}node config must be a mapping, got {type(node_config).__name__}"
        raise ConfigShapeError(msg)
    node_type = node_config.get("node_type")
    if not node_type:
        msg = f"{prefix}'node_type' is required - specify the type (router, agent, llm, tool, child)"
        raise WorkflowValidationError(msg)
    if isinstance(node_type, str) and node_type.startswith("_"):
        return None
    validator = NODE_VALIDATORS.get(node_type) if isinstance(node_type, str) else None
    if validator is None:
        msg = (f"{prefix}unknown node_type '{node_type}'. "
               "Valid types are: router, agent, llm, child, tool")
        raise WorkflowValidationError(msg)
    return validator


def _validate_node(workflow_name: Any, node_name: Any, node_config: Any) -> None:
    """One node: reserved name, shape and type, then its type's rules under the workflow prefix."""
    if isinstance(node_name, str) and node_name.startswith("__"):
        msg = (f"Workflow '{workflow_name}': node name '{node_name}' is reserved - "
               "names starting with '__' are reserved for internal use")
        raise WorkflowValidationError(msg)
    validator = _node_validator(workflow_name, node_name, node_config)
    if validator is None:
        return
    try:
        validator(node_config)
    except WorkflowValidationError as exc:
        msg = f"Workflow '{workflow_name}', node '{node_name}': {exc}"
        raise WorkflowValidationError(msg) from exc


def validate_workflow(workflow_name: Any, workflow: Any) -> None:
    """A workflow is a non-empty mapping of valid nodes; nodes are checked in order."""
    check_reserved_name(workflow_name)
    if not isinstance(workflow, Mapping):
        msg = f"Workflow '{workflow_name}' must be an object containing node definitions"
        raise WorkflowValidationError(msg)
    if not workflow:
        msg = f"Workflow '{workflow_name}' is empty - at least one node is required"
        raise WorkflowValidationError(msg)
    for node_name, node_config in workflow.items():
        _validate_node(workflow_name, node_name, node_config)


def _validate_workflows(workflows: Mapping[Any, Any]) -> None:
    """Each workflow in mapping order; the first failure wins."""
    for workflow_name, workflow in workflows.items():
        validate_workflow(workflow_name, workflow)


def _check_context_schema(schema: Any) -> None:
    """Each field definition is a schema object or a bare type string (§8)."""
    if schema is None:
        return
    if not isinstance(schema, Mapping):
        msg = "'context_schema' section must be an object mapping field names to schemas"
        raise WorkflowValidationError(msg)
    for field_name, definition in schema.items():
        if not isinstance(definition, (Mapping, str)):
            msg = f"context_schema.{field_name}: schema must be an object or type string"
            raise WorkflowValidationError(msg)


def _check_identities(identities: Any) -> None:
    """Each identity is a system prompt, so it must be a string."""
    if identities is None:
        return
    if not isinstance(identities, Mapping):
        msg = "'identities' section must be an object mapping identity names to prompts"
        raise WorkflowValidationError(msg)
    for name, prompt in identities.items():
        if not isinstance(prompt, str):
            msg = f"identities.{name}: identity prompt must be a string, got {type(prompt).__name__}"
            raise WorkflowValidationError(msg)


def _validate_combined(parsed: Mapping[str, Any]) -> None:
    """The combined shape: ``workflows`` plus the optional schema and identity sections."""
    workflows = parsed["workflows"]
    if not isinstance(workflows, Mapping):
        msg = "'workflows' section must be an object containing workflow definitions"
        raise WorkflowValidationError(msg)
    _validate_workflows(workflows)
    _check_context_schema(parsed.get("context_schema"))
    _check_identities(parsed.get("identities"))


def parse_limits(parsed_config: Any) -> dict[str, int]:
    """The config's validated ``limits`` (§2.2), or ``{}`` when it has none.

    Accepts any parsed config: a falsy or inherited config (not a mapping)
    simply has no limits. Booleans are rejected: ``max_steps: yes`` is not a count.
    """
    if not isinstance(parsed_config, Mapping):
        return {}
    limits = parsed_config.get(LIMITS_KEY)
    if limits is None:
        return {}
    if not isinstance(limits, Mapping):
        msg = "'limits' section must be an object mapping limit names to positive integers"
        raise WorkflowValidationError(msg)
    for name, value in limits.items():
        if name not in LIMIT_NAMES:
            msg = f"limits.{name}: unknown limit - valid limits are {', '.join(LIMIT_NAMES)}"
            raise WorkflowValidationError(msg)
        if name in _SWITCHES:
            if not isinstance(value, bool):
                msg = f"limits.{name}: must be true or false, got {value!r}"
                raise WorkflowValidationError(msg)
        elif not is_int_at_least(value, 1):
            msg = f"limits.{name}: must be a positive integer, got {value!r}"
            raise WorkflowValidationError(msg)
    return dict(limits)


def _alternatives(index: int, item: Any) -> list[str]:
    """One wait of ``external_signals``: a signal name, or a list of names any one of which answers it."""
    names = item if isinstance(item, list) else [item]
    if not names or not all(isinstance(name, str) and name for name in names):
        msg = (f"external_signals[{index}]: must be a signal name or a non-empty list of signal "
               f"names, got {item!r}")
        raise WorkflowValidationError(msg)
    return list(names)


def parse_external_signals(parsed_config: Any) -> list[list[str]]:
    """The config's declared external signals, one list of alternatives per wait; ``[]`` if none.

    ``external_signals: [DETAILS, [APPROVED, REJECTED]]`` declares two waits:
    DETAILS, and a decision answered by either APPROVED or REJECTED.
    """
    if not isinstance(parsed_config, Mapping):
        return []
    declared = parsed_config.get(EXTERNAL_SIGNALS_KEY)
    if declared is None:
        return []
    if not isinstance(declared, list):
        msg = ("'external_signals' must be a list of signal names (a nested list groups "
               "alternatives, e.g. [[APPROVED, REJECTED]])")
        raise WorkflowValidationError(msg)
    return [_alternatives(index, item) for index, item in enumerate(declared)]


def validate_config(config: Any) -> None:
    """Validate a YAML string or parsed config in either top-level shape (§2.2, §13.2).

    Raises:
        ConfigShapeError: the parsed config is not a mapping (Q28).
        WorkflowValidationError: the first failing section, workflow or node rule.
        ValueError: the YAML text does not parse (§2.1).
    """
    parsed = parse_yaml(config)
    if not isinstance(parsed, Mapping):
        msg = f"Config must be a mapping of workflow names to workflows, got {type(parsed).__name__}"
        raise ConfigShapeError(msg)
    if "workflows" in parsed:
        _validate_combined(parsed)
    else:
        _validate_workflows({k: v for k, v in parsed.items() if k not in RESERVED_KEYS})
    parse_limits(parsed)
    parse_external_signals(parsed)
