"""Built-in ``soe_add_signal``: add an emission to a node, or change its condition (SPEC §10.2).

The modified node is validated before saving (Q23). Only an added signal
registers an event (upstream registered none for an update).

No ``from __future__ import annotations`` here: agents build the tool's parameter
model from its signature, so the annotations must be real typing objects.
"""

from collections.abc import Callable
from typing import Any

from soe.builtin_tools._common import editor, record_tool_event
from soe.types import Backends

__all__ = ["create_soe_add_signal_tool"]

OPERATION = "soe_add_signal"


def create_soe_add_signal_tool(execution_id: str, backends: Backends,
                               tools_registry: dict[str, Any] | None = None) -> Callable[..., dict[str, Any]]:
    """Bind ``add_signal`` to ``execution_id`` (Q7)."""

    def add_signal(workflow_name: str, node_name: str, signal_name: str, condition: str) -> dict[str, Any]:
        """Add a signal (with its emission condition) to a node, or update the condition of an existing one."""
        change = editor(execution_id, backends, OPERATION).add_signal(
            workflow_name, node_name, signal_name, condition)
        if change.result == "updated":
            return {"status": "updated", "message": f"Updated signal '{signal_name}' in node '{node_name}'"}
        record_tool_event(backends, execution_id, {"tool": "add_signal", "workflow_name": workflow_name,
                                                   "node_name": node_name, "signal": signal_name})
        return {"status": "added", "message": f"Added signal '{signal_name}' to node '{node_name}'"}

    return add_signal
