"""Built-in ``soe_inject_node``: add or replace one node from JSON/YAML text (SPEC §10.2).

The node is validated as it will be saved (Q23) and the change is recorded as a
registry revision by ``soe.revisions.editor``.

No ``from __future__ import annotations`` here: agents build the tool's parameter
model from its signature, so the annotations must be real typing objects.
"""

from collections.abc import Callable
from typing import Any

from soe.builtin_tools._common import editor, parse_mapping, record_tool_event
from soe.revisions.editor import NODE_CONFIG_ERROR
from soe.types import Backends

__all__ = ["create_soe_inject_node_tool"]

OPERATION = "soe_inject_node"


def _load_node(text: Any) -> dict[str, Any]:
    return parse_mapping(text, NODE_CONFIG_ERROR)


def create_soe_inject_node_tool(execution_id: str, backends: Backends,
                                tools_registry: dict[str, Any] | None = None) -> Callable[..., dict[str, Any]]:
    """Bind ``soe_soe_inject_node`` (upstream's function name) to ``execution_id`` (Q7)."""

    def soe_soe_inject_node(workflow_name: str, node_name: str, node_config_data: str) -> dict[str, Any]:
        """Add or replace a node in an existing workflow, given its config as JSON or YAML text."""
        editor(execution_id, backends, OPERATION).inject_node(
            workflow_name, node_name, node_config_data, load=_load_node)
        record_tool_event(backends, execution_id,
                          {"tool": OPERATION, "workflow_name": workflow_name, "node_name": node_name})
        return {"injected": True, "workflow_name": workflow_name, "node_name": node_name,
                "message": f"Successfully injected node '{node_name}' into workflow '{workflow_name}'"}

    return soe_soe_inject_node
