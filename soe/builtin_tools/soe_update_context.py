"""Built-in ``soe_update_context``: append values to the bound execution's fields (SPEC §10.2).

Each value is appended to its field's history, like a node output, but with no
parent sync. ``__`` keys are engine state and are never written.

No ``from __future__ import annotations`` here: agents build the tool's parameter
model from its signature, so the annotations must be real typing objects.
"""

from collections.abc import Callable, Mapping
from typing import Any

from soe.engine.store import execution_lock
from soe.lib.context_fields import is_internal, set_field
from soe.lib.values import storable
from soe.types import Backends

__all__ = ["create_soe_update_context_tool"]


def _user_fields(updates: Mapping[str, Any]) -> dict[str, Any]:
    """The writable part of ``updates``: every key that is not ``__``-prefixed."""
    for key in updates:
        if not isinstance(key, str):
            raise ValueError(f"Context field names must be strings, got {type(key).__name__}")
    return {key: value for key, value in updates.items() if not is_internal(key)}


def _append_all(backends: Backends, execution_id: str, values: dict[str, Any]) -> None:
    """Append atomically per field when the backend can; otherwise read, modify, save once."""
    atomic = getattr(backends.context, "append_to_field", None)
    if atomic is not None:
        for field, value in values.items():
            atomic(execution_id, field, value)
        return
    with execution_lock(execution_id):
        ctx = backends.context.get_context(execution_id)
        for field, value in values.items():
            set_field(ctx, field, value)
        backends.context.save_context(execution_id, ctx)


def create_soe_update_context_tool(backends: Backends, execution_id: str,
                                   tools_registry: dict[str, Any] | None = None) -> Callable[..., dict[str, Any]]:
    """Bind ``update_context`` to ``execution_id`` (Q7)."""

    def update_context(updates: dict[str, Any]) -> dict[str, Any]:
        """Append new values to context fields (operational '__' fields cannot be changed)."""
        if not updates:
            return {"status": "no updates provided"}
        if not isinstance(updates, Mapping):
            raise ValueError("'updates' must be a dictionary/object mapping field names to values")
        values = storable(_user_fields(updates), what="the context updates")
        if not values:
            return {"status": "no valid updates (operational fields cannot be updated)"}
        _append_all(backends, execution_id, values)
        return {"status": "updated", "fields": list(values)}

    return update_context
