"""Built-in ``soe_get_context``: read the bound execution's stored field histories (SPEC §10.2).

No ``from __future__ import annotations`` here: agents build the tool's parameter
model from its signature, so the annotations must be real typing objects.
"""

from collections.abc import Callable
from typing import Any

from soe.lib.context_fields import is_internal
from soe.types import Backends

__all__ = ["create_soe_get_context_tool"]


def _history(ctx: dict[str, Any], field: Any) -> Any:
    """A field's raw history list; ``__`` keys are engine state and read as absent."""
    if not isinstance(field, str) or is_internal(field):
        return None
    return ctx.get(field)


def _field_names(fields: Any) -> list[Any]:
    """``fields`` as a list; a single name is accepted as a one-item list."""
    if isinstance(fields, str):
        return [fields]
    if not isinstance(fields, (list, tuple)):
        raise ValueError(f"'fields' must be a list of field names, got {type(fields).__name__}")
    return list(fields)


def create_soe_get_context_tool(backends: Backends, execution_id: str,
                                tools_registry: dict[str, Any] | None = None) -> Callable[..., dict[str, Any]]:
    """Bind ``get_context`` to ``execution_id`` (each execution resolves its own, Q7)."""

    def get_context(field: str | None = None, fields: list[str] | None = None) -> dict[str, Any]:
        """Read the full history of one context field, several fields, or every field."""
        ctx = backends.context.get_context(execution_id)
        if field:
            return {field: _history(ctx, field)}
        if fields:
            return {name: _history(ctx, name) for name in _field_names(fields)}
        return {key: value for key, value in ctx.items() if not is_internal(key)}

    return get_context
