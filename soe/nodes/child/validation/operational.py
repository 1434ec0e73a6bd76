"""Child runtime check (SPEC §13.3): a child is started from the registry, so one must exist."""

from __future__ import annotations

from typing import Any

from soe._errors import OperationalValidationError
from soe.types import Backends
from soe.validation.nodes.rules import read_workflow_backend
from soe.validation.operational import validate_operational

__all__ = ["validate_child_node_runtime"]


def validate_child_node_runtime(execution_id: str, backends: Backends) -> dict[str, Any]:
    """Validate ``__operational__``, require a non-empty registry, return the context."""
    context = validate_operational(execution_id, backends)
    registry = read_workflow_backend(backends, "get_workflows_registry", execution_id)
    if not registry:
        msg = f"No workflows_registry found for execution_id '{execution_id}'"
        raise OperationalValidationError(msg)
    return context
