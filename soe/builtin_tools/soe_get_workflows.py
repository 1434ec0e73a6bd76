"""Built-in ``soe_get_workflows``: read the bound execution's workflows registry (SPEC §10.2).

No ``from __future__ import annotations`` here: agents build the tool's parameter
model from its signature, so the annotations must be real typing objects.
"""

import copy
from collections.abc import Callable
from typing import Any

from soe.types import Backends

__all__ = ["create_soe_get_workflows_tool"]


def create_soe_get_workflows_tool(execution_id: str, backends: Backends,
                                  tools_registry: dict[str, Any] | None = None) -> Callable[..., dict[str, Any]]:
    """Bind ``soe_get_workflows`` to ``execution_id`` (Q7)."""

    def soe_get_workflows(workflow_name: str | None = None, list_only: bool = False) -> dict[str, Any]:
        """List workflow names, show one workflow's nodes, or return the whole registry."""
        # A plain copy: the stored registry may be a read-only snapshot.
        registry = copy.deepcopy(backends.workflow.get_workflows_registry(execution_id) or {})
        if list_only:
            return {"workflow_names": list(registry)}
        if workflow_name:
            if workflow_name not in registry:
                return {"error": f"Workflow '{workflow_name}' not found", "available": list(registry)}
            workflow = registry[workflow_name]
            return {"workflow_name": workflow_name, "nodes": list(workflow), "node_configs": workflow}
        return registry

    return soe_get_workflows
