"""LLM runtime check (SPEC §13.3): the node reads its current workflow name, so it must be readable."""

from __future__ import annotations

from typing import Any

from soe.types import Backends
from soe.validation.nodes.rules import read_workflow_backend
from soe.validation.operational import read_operational_snapshot

__all__ = ["validate_llm_node_runtime"]


def validate_llm_node_runtime(execution_id: str, backends: Backends) -> dict[str, Any]:
    """Validate ``__operational__``, probe the workflow backend, return a read-only snapshot of the context."""
    context = read_operational_snapshot(execution_id, backends)
    read_workflow_backend(backends, "get_current_workflow_name", execution_id)
    return context
