"""Built-in ``soe_remove_node``: delete one node of a workflow (SPEC §10.2).

No ``from __future__ import annotations`` here: agents build the tool's parameter
model from its signature, so the annotations must be real typing objects.
"""

from collections.abc import Callable
from typing import Any

from soe.builtin_tools._common import editor, record_tool_event
from soe.types import Backends

__all__ = ["create_soe_remove_node_tool"]

OPERATION = "soe_remove_node"


def create_soe_remove_node_tool(execution_id: str, backends: Backends,
                                tools_registry: dict[str, Any] | None = None) -> Callable[..., dict[str, Any]]:
    """Bind ``soe_remove_node`` to ``execution_id`` (Q7)."""

    def soe_remove_node(workflow_name: str, node_name: str) -> dict[str, Any]:
        """Remove a node from a workflow in this execution's registry."""
        editor(execution_id, backends, OPERATION).remove_node(workflow_name, node_name)
        record_tool_event(backends, execution_id,
                          {"tool": OPERATION, "workflow_name": workflow_name, "node_name": node_name})
        return {"removed": True, "workflow_name": workflow_name, "node_name": node_name,
                "message": f"Successfully removed node '{node_name}' from workflow '{workflow_name}'"}

    return soe_remove_node
