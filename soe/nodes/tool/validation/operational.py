"""Tool runtime check (SPEC §13.3): the operational block; the registry is checked by config."""

from __future__ import annotations

from typing import Any

from soe.types import Backends
from soe.validation.operational import validate_operational

__all__ = ["validate_tool_node_runtime"]


def validate_tool_node_runtime(execution_id: str, backends: Backends) -> dict[str, Any]:
    """Validate ``__operational__`` and return the execution's context."""
    return validate_operational(execution_id, backends)
