"""Runtime-state checks (SPEC §13.3): the stored context and its ``__operational__`` block.

Every broadcast and every node starts here, so a missing or corrupted
execution fails with a message that says what is wrong instead of a
``KeyError`` deep inside a node.
"""

from __future__ import annotations

from typing import Any

from soe._errors import OperationalValidationError
from soe.lib.history import HistoryPrefix
from soe.lib.operational import REQUIRED_KEYS
from soe.types import Backends

__all__ = ["OperationalValidationError", "read_operational_snapshot", "validate_backends", "validate_operational"]

_REQUIRED_BACKENDS = ("context", "workflow")

# Counter fields and the type each must have; "int" excludes bool (a corrupted
# counter, never something the engine writes).
_FIELD_TYPES: tuple[tuple[str, type, str], ...] = (
    ("signals", list, "a list"),
    ("nodes", dict, "a dict"),
    ("llm_calls", int, "an int"),
    ("tool_calls", int, "an int"),
    ("errors", int, "an int"),
)


def validate_backends(backends: Backends) -> None:
    """The context and workflow backends are the two the engine cannot run without."""
    for name in _REQUIRED_BACKENDS:
        if getattr(backends, name, None) is None:
            msg = f"Invalid backends: missing required attribute '{name}'"
            raise OperationalValidationError(msg)


def _check_field_types(operational: dict[str, Any]) -> None:
    """Each counter has the type the telemetry updates assume."""
    for field, kind, article in _FIELD_TYPES:
        value = operational[field]
        exact = type(value)
        if exact is kind or exact is HistoryPrefix:  # the common case, without ABC checks
            continue
        if not isinstance(value, kind) or isinstance(value, bool):
            msg = (f"Invalid '__operational__.{field}' - must be {article}, "
                   f"got {type(value).__name__}")
            raise OperationalValidationError(msg)


def _check_operational(execution_id: str, operational: Any) -> None:
    """All required keys present (a non-mapping block has none), then their types."""
    present = operational if isinstance(operational, dict) else {}
    missing = [key for key in REQUIRED_KEYS if key not in present]
    if missing:
        msg = (f"Invalid '__operational__' structure for execution_id '{execution_id}'. "
               f"Missing fields: {missing}")
        raise OperationalValidationError(msg)
    _check_field_types(present)


def validate_operational(execution_id: str, backends: Backends) -> dict[str, Any]:
    """Return the execution's context once its ``__operational__`` block is sound."""
    return _checked_context(execution_id, backends.context.get_context(execution_id))


def read_operational_snapshot(execution_id: str, backends: Backends) -> dict[str, Any]:
    """``validate_operational`` for the engine's own read-only use.

    A backend offering ``get_context_snapshot`` answers without copying histories,
    so a node reading one value costs the same at step 100,000 as at step 100.
    """
    reader = getattr(backends.context, "get_context_snapshot", None)
    context = reader(execution_id) if reader is not None else backends.context.get_context(execution_id)
    return _checked_context(execution_id, context)


def _checked_context(execution_id: str, context: dict[str, Any]) -> dict[str, Any]:
    if not context:
        msg = (f"No context found for execution_id '{execution_id}'. "
               "Context must be initialized before node execution.")
        raise OperationalValidationError(msg)
    if "__operational__" not in context:
        msg = (f"Missing '__operational__' in context for execution_id '{execution_id}'. "
               "Call initialize_operational_context() before node execution.")
        raise OperationalValidationError(msg)
    _check_operational(execution_id, context["__operational__"])
    return context
