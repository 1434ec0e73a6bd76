"""Built-in ``soe_inject_workflow``: add or replace a workflow from JSON/YAML text (SPEC §10.2).

The text may hold the workflow itself, or a mapping that contains it under its
name; the change is validated whole and recorded as a registry revision by
``soe.revisions.editor``.

No ``from __future__ import annotations`` here: agents build the tool's parameter
model from its signature, so the annotations must be real typing objects.
"""

from collections.abc import Callable, Mapping
from typing import Any

from soe.builtin_tools._common import editor, parse_mapping, record_tool_event
from soe.revisions.editor import check_workflow_name
from soe.types import Backends

__all__ = ["create_soe_inject_workflow_tool", "select_definition"]

OPERATION = "soe_inject_workflow"


def _is_node_map(data: dict[str, Any]) -> bool:
    return all(isinstance(value, Mapping) and "node_type" in value for value in data.values())


def select_definition(workflow_name: str, data: dict[str, Any]) -> Any:
    """The workflow inside ``data``: under its name, the mapping itself, or its single value."""
    if workflow_name in data:
        return data[workflow_name]
    if _is_node_map(data):
        return data
    if len(data) == 1:
        return next(iter(data.values()))
    return data


def create_soe_inject_workflow_tool(execution_id: str, backends: Backends,
                                    tools_registry: dict[str, Any] | None = None) -> Callable[..., dict[str, Any]]:
    """Bind ``soe_inject_workflow`` to ``execution_id`` (Q7)."""

    def soe_inject_workflow(workflow_name: str, workflow_data: str) -> dict[str, Any]:
        """Add or replace a workflow, given as JSON or YAML text mapping node names to node configs."""
        check_workflow_name(workflow_name)
        data = parse_mapping(workflow_data, "Workflow data must be a dictionary/object")
        definition = select_definition(workflow_name, data)
        if not definition:
            raise ValueError("No workflow definition found for injection")
        editor(execution_id, backends, OPERATION).inject_workflow(workflow_name, definition)
        record_tool_event(backends, execution_id, {"tool": OPERATION, "workflow_name": workflow_name})
        return {"injected": True, "workflow_name": workflow_name,
                "message": f"Successfully injected workflow '{workflow_name}'"}

    return soe_inject_workflow
